  // ------------------------------------------------ Request, Response, fetch

  // `fetch` is a host call (the launcher relays it to moat-egress, which
  // applies the policy); everything here is the WHATWG shape around it.
  const JSONParse = JSON.parse;
  const PromiseCtor = Promise;
  const ErrorCtor = Error;
  const URLSearchParamsToString = uncurry(URLSearchParams.prototype.toString);
  const METHODS = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT'];

  // A rejected fetch, as Node shapes it: a TypeError whose `cause` carries
  // the code (`EGRESS_DENIED`, `ENOTFOUND`, ...) and the same sentence.
  const netError = (code, message) => {
    const cause = new ErrorCtor(message);
    define(cause, 'code', code);
    return new TypeErrorCtor(message, { cause });
  };

  // A body as [bytes or null, the content type it implies or null].
  const extractBody = (body) => {
    if (body === undefined || body === null) return [null, null];
    if (typeof body === 'string') return [host.utf8Encode(StringToWellFormed(body)), 'text/plain;charset=UTF-8'];
    const form = tryCall(() => URLSearchParamsToString(body), undefined);
    if (form !== undefined) return [host.utf8Encode(form), 'application/x-www-form-urlencoded;charset=UTF-8'];
    const view = tryCall(() => bytesOf(body, 'The body'), undefined);
    if (view !== undefined) return [new Uint8ArrayCtor(view), null];
    return [host.utf8Encode(StringToWellFormed(StringCtor(body))), 'text/plain;charset=UTF-8'];
  };

  const normalizeMethod = (m) => {
    const s = StringCtor(m);
    if (!isToken(s)) throw new TypeErrorCtor('Invalid method: ' + inspect(s));
    const lower = asciiLower(s);
    // The standard upper-cases these seven only; other methods pass as given.
    for (let i = 0; i < METHODS.length; i++) if (asciiLower(METHODS[i]) === lower) return METHODS[i];
    if (lower === 'connect' || lower === 'trace' || lower === 'track') throw new TypeErrorCtor("The method '" + s + "' is not allowed");
    return s;
  };

  // What Request and Response share: a body read once.
  let bodyOf; // (request or response) → { bytes, used }: set by the static block
  class Body {
    #state = { bytes: null, used: false };
    static {
      bodyOf = (b) => b.#state;
    }
    get bodyUsed() {
      return this.#state.used;
    }
    #take() {
      const s = this.#state;
      if (s.used) return PromiseCtor.reject(new TypeErrorCtor('Body is unusable: Body has already been read'));
      s.used = true;
      return PromiseCtor.resolve(s.bytes === null ? new Uint8ArrayCtor(0) : s.bytes);
    }
    text() {
      return this.#take().then((b) => host.utf8Decode(b, false, false));
    }
    json() {
      return this.#take().then((b) => JSONParse(host.utf8Decode(b, false, false)));
    }
    arrayBuffer() {
      return this.#take().then((b) => ArrayBufferSlice(TypedArrayBuffer(b), TypedArrayByteOffset(b), TypedArrayByteOffset(b) + TypedArrayByteLength(b)));
    }
    bytes() {
      return this.#take().then((b) => new Uint8ArrayCtor(b));
    }
  }

  let requestParts; // (request) → its fields: set by the static block
  class Request extends Body {
    #method = 'GET';
    #url = '';
    #headers = new Headers();
    #redirect = 'follow';
    #signal = null;
    static {
      requestParts = (r) => ({ method: r.#method, url: r.#url, headers: r.#headers, redirect: r.#redirect, signal: r.#signal });
    }
    constructor(input, init = undefined) {
      super();
      const opts = init === undefined || init === null ? ObjectCreate(null) : init;
      const from = tryCall(() => requestParts(input), undefined);
      if (from !== undefined) {
        this.#method = from.method;
        this.#url = from.url;
        this.#headers = new Headers(from.headers);
        this.#redirect = from.redirect;
        this.#signal = from.signal;
        const b = bodyOf(input);
        if (b.used) throw new TypeErrorCtor('Cannot construct a Request with a Request whose body has been read');
        bodyOf(this).bytes = b.bytes;
      } else {
        const href = tryCall(() => host.urlParse(StringCtor(input)), null);
        if (href === null || href === undefined) throw new TypeErrorCtor('Failed to parse URL from ' + StringCtor(input));
        if (href[USERNAME] !== '' || href[PASSWORD] !== '') throw new TypeErrorCtor('Request cannot be constructed from a URL that includes credentials: ' + href[HREF]);
        this.#url = href[HREF];
      }
      if (opts.method !== undefined) this.#method = normalizeMethod(opts.method);
      if (opts.headers !== undefined) this.#headers = new Headers(opts.headers);
      if (opts.redirect !== undefined) {
        const r = StringCtor(opts.redirect);
        if (r !== 'follow' && r !== 'manual' && r !== 'error') throw new TypeErrorCtor("redirect must be 'follow', 'manual' or 'error'");
        this.#redirect = r;
      }
      if (opts.signal !== undefined) {
        if (opts.signal !== null && !isSignal(opts.signal)) throw new TypeErrorCtor('signal must be an AbortSignal');
        this.#signal = opts.signal;
      }
      if (opts.body !== undefined && opts.body !== null) {
        if (this.#method === 'GET' || this.#method === 'HEAD') throw new TypeErrorCtor('Request with GET/HEAD method cannot have body.');
        const [bytes, type] = extractBody(opts.body);
        bodyOf(this).bytes = bytes;
        if (type !== null && !this.#headers.has('content-type')) this.#headers.set('content-type', type);
      }
    }
    get method() {
      return this.#method;
    }
    get url() {
      return this.#url;
    }
    get headers() {
      return this.#headers;
    }
    get redirect() {
      return this.#redirect;
    }
    get signal() {
      return this.#signal;
    }
    clone() {
      if (this.bodyUsed) throw new TypeErrorCtor('Cannot clone a Request whose body has been read');
      return new Request(this);
    }
    get [SymbolToStringTag]() {
      return 'Request';
    }
  }

  let responseInit; // (response, { status, statusText, url, redirected, headers, bytes })
  class Response extends Body {
    #status = 200;
    #statusText = '';
    #headers = new Headers();
    #url = '';
    #redirected = false;
    #type = 'default';
    static {
      responseInit = (r, parts) => {
        r.#status = parts.status;
        r.#statusText = parts.statusText;
        r.#headers = parts.headers;
        r.#url = parts.url;
        r.#redirected = parts.redirected;
        r.#type = parts.type;
        bodyOf(r).bytes = parts.bytes;
      };
    }
    constructor(body = null, init = undefined) {
      super();
      const opts = init === undefined || init === null ? ObjectCreate(null) : init;
      if (opts.status !== undefined) {
        const s = +opts.status;
        if (!NumberIsInteger(s) || s < 200 || s > 599) throw new RangeErrorCtor('The status provided (' + StringCtor(opts.status) + ') is outside the range [200, 599].');
        this.#status = s;
      }
      if (opts.statusText !== undefined) this.#statusText = StringCtor(opts.statusText);
      if (opts.headers !== undefined) this.#headers = new Headers(opts.headers);
      const [bytes, type] = extractBody(body);
      bodyOf(this).bytes = bytes;
      if (type !== null && !this.#headers.has('content-type')) this.#headers.set('content-type', type);
    }
    static json(data, init = undefined) {
      const text = JSONStringify(data);
      if (text === undefined) throw new TypeErrorCtor('The data is not JSON-serialisable');
      const response = new Response(text, init);
      response.headers.set('content-type', 'application/json');
      return response;
    }
    static error() {
      const response = new Response();
      responseInit(response, { status: 0, statusText: '', headers: new Headers(), url: '', redirected: false, type: 'error', bytes: null });
      headersGuard(response.headers, 'immutable');
      return response;
    }
    static redirect(url, status = 302) {
      const s = +status;
      if (s !== 301 && s !== 302 && s !== 303 && s !== 307 && s !== 308) throw new RangeErrorCtor('Invalid status code ' + StringCtor(status));
      const href = host.urlParse(StringCtor(url));
      if (href === null || href === undefined) throw new TypeErrorCtor('Failed to parse URL from ' + StringCtor(url));
      const headers = new Headers([['location', href[HREF]]]);
      const response = new Response(null, { status: 200 });
      responseInit(response, { status: s, statusText: '', headers, url: '', redirected: false, type: 'default', bytes: null });
      headersGuard(headers, 'immutable');
      return response;
    }
    get status() {
      return this.#status;
    }
    get ok() {
      return this.#status >= 200 && this.#status <= 299;
    }
    get statusText() {
      return this.#statusText;
    }
    get headers() {
      return this.#headers;
    }
    get url() {
      return this.#url;
    }
    get redirected() {
      return this.#redirected;
    }
    get type() {
      return this.#type;
    }
    clone() {
      if (this.bodyUsed) throw new TypeErrorCtor('Response.clone: Body has already been consumed.');
      const copy = new Response();
      const bytes = bodyOf(this).bytes;
      responseInit(copy, { status: this.#status, statusText: this.#statusText, headers: new Headers(this.#headers), url: this.#url, redirected: this.#redirected, type: this.#type, bytes: bytes === null ? null : new Uint8ArrayCtor(bytes) });
      return copy;
    }
    get [SymbolToStringTag]() {
      return 'Response';
    }
  }

  function fetch(input, init = undefined) {
    return new PromiseCtor((resolve, reject) => {
      let request;
      try {
        request = new Request(input, init);
      } catch (e) {
        reject(e);
        return;
      }
      const parts = requestParts(request);
      const signal = parts.signal;
      if (signal !== null && AbortSignalAbortedGet(signal)) {
        reject(AbortSignalReasonGet(signal));
        return;
      }
      const headers = [];
      const list = headersList(parts.headers);
      for (let i = 0; i < list.length; i++) push(headers, [list[i][0], list[i][1]]);
      const args = JSONStringify({ __proto__: null, method: parts.method, url: parts.url, headers, redirect: parts.redirect });
      let settled = false;
      let id = 0;
      const onAbort = () => {
        if (settled) return;
        settled = true;
        host.cancel(id);
        reject(AbortSignalReasonGet(signal));
      };
      const done = () => {
        settled = true;
        if (signal !== null) AbortSignalUnlisten(signal, 'abort', onAbort);
      };
      id = host.call(
        'fetch',
        args,
        bodyOf(request).bytes,
        (head, bytes) => {
          if (settled) return;
          done();
          let h;
          try {
            h = JSONParse(head);
          } catch (e) {
            reject(netError('EPROTO', 'the response could not be read'));
            return;
          }
          const responseHeaders = new Headers();
          for (let i = 0; i < h.headers.length; i++) {
            try {
              responseHeaders.append(h.headers[i][0], h.headers[i][1]);
            } catch {
              // A header the standard would not let through is dropped.
            }
          }
          headersGuard(responseHeaders, 'immutable');
          const response = new Response();
          const nullBody = parts.method === 'HEAD' || h.status === 204 || h.status === 205 || h.status === 304;
          responseInit(response, { status: h.status, statusText: h.status_text, headers: responseHeaders, url: h.url, redirected: h.redirected, type: 'basic', bytes: nullBody ? null : bytes });
          resolve(response);
        },
        (code, message) => {
          if (settled) return;
          done();
          reject(netError(code, message));
        },
      );
      if (id !== 0 && signal !== null && !settled) AbortSignalListen(signal, 'abort', onAbort, { once: true });
    });
  }

  define(globalThis, 'Request', Request);
  define(globalThis, 'Response', Response);
  define(globalThis, 'fetch', fetch);
