    // -------------------------------------------- requests and responses
    const headerObject = (list) => {
      const out = {};
      for (const [k, v] of list) {
        const name = asciiLower(k);
        out[name] = ObjectHasOwn(out, name) ? out[name] + '\n' + v : v;
      }
      return out;
    };

    class HTTPRequest {
      #p;
      #page;
      #decision = null;
      _response = null;
      _failure = null;
      constructor(page, paused) {
        this.#page = page;
        this.#p = paused;
      }
      url() { return this.#p.request.url; }
      method() { return this.#p.request.method; }
      headers() { return { ...this.#p.request.headers }; }
      postData() { return this.#p.request.postData; }
      hasPostData() { return !!this.#p.request.hasPostData; }
      resourceType() { return asciiLower(this.#p.resourceType || 'other'); }
      isNavigationRequest() { return this.#p.resourceType === 'Document'; }
      frame() { return this.#page.mainFrame(); }
      response() { return this._response; }
      failure() { return this._failure; }
      // setRequestInterception(true): the script decides, once.
      _decision() { return this.#decision; }
      continue(overrides = {}) { this.#decide({ action: 'continue', overrides }); return P.resolve(); }
      abort(reason = 'failed') { this.#decide({ action: 'abort', reason }); return P.resolve(); }
      respond(response) { this.#decide({ action: 'respond', response }); return P.resolve(); }
      isInterceptResolutionHandled() { return this.#decision !== null; }
      #decide(d) {
        if (this.#decision !== null) throw new ErrorCtor('Request is already handled!');
        this.#decision = d;
        if (this._wake) this._wake();
      }
    }

    class HTTPResponse {
      #request;
      #head;
      #bytes;
      constructor(request, head, bytes) {
        this.#request = request;
        this.#head = head;
        this.#bytes = bytes;
      }
      url() { return this.#head.url || this.#request.url(); }
      status() { return this.#head.status; }
      statusText() { return this.#head.status_text || ''; }
      ok() { return this.#head.status === 0 || (this.#head.status >= 200 && this.#head.status <= 299); }
      headers() { return headerObject(this.#head.headers); }
      request() { return this.#request; }
      fromCache() { return false; }
      async buffer() { return new Uint8ArrayCtor(this.#bytes); }
      async content() { return this.buffer(); }
      async text() { return host.utf8Decode(this.#bytes, false, false); }
      async json() { return parse(await this.text()); }
    }

    // Net errors as Chromium names them, from the host's codes.
    const failReason = (code) => {
      switch (code) {
        case 'EGRESS_DENIED': case 'EGRESS_LIMIT': return 'BlockedByClient';
        case 'ECONNREFUSED': return 'ConnectionRefused';
        case 'ENOTFOUND': return 'NameNotResolved';
        case 'ETIMEDOUT': case 'UND_ERR_HEADERS_TIMEOUT': return 'TimedOut';
        case 'ECONNRESET': return 'ConnectionReset';
        default: return 'Failed';
      }
    };
    // 'BlockedByClient' → 'net::ERR_BLOCKED_BY_CLIENT', as Chromium says it.
    const netError = (reason) => 'net::ERR_' + reason.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase();
    const ABORT_REASONS = {
      aborted: 'Aborted', accessdenied: 'AccessDenied', addressunreachable: 'AddressUnreachable',
      blockedbyclient: 'BlockedByClient', blockedbyresponse: 'BlockedByResponse', connectionaborted: 'ConnectionAborted',
      connectionclosed: 'ConnectionClosed', connectionfailed: 'ConnectionFailed', connectionrefused: 'ConnectionRefused',
      connectionreset: 'ConnectionReset', internetdisconnected: 'InternetDisconnected', namenotresolved: 'NameNotResolved',
      timedout: 'TimedOut', failed: 'Failed',
    };
    // Response headers the host has already applied (the body arrives
    // decoded and whole) are not handed on.
    const DROPPED_HEADERS = ['content-encoding', 'content-length', 'transfer-encoding'];

    // The host calls the page's requests wait for, MAX_PAGE_FETCHES at once.
    let fetching = 0;
    const fetchQueue = [];
    const inFlight = new SetCtor();
    const hostFetch = (call, body) => new P((resolve, reject) => {
      const start = () => {
        fetching++;
        let id = 0;
        let ended = false;
        const done = () => {
          ended = true;
          inFlight.delete(id);
          fetching--;
          const next = fetchQueue.shift();
          if (next) next();
        };
        id = host.call('fetch', stringify(call), body,
          (head, bytes) => { done(); resolve([parse(head), bytes]); },
          (code, message) => { done(); reject({ code, message }); });
        if (id && !ended) inFlight.add(id);
      };
      if (fetching < MAX_PAGE_FETCHES) start();
      else fetchQueue.push(start);
    });
    // The browser has closed: what its pages were waiting for is given up
    // (each call cancelled, so none keeps the run waiting for a reply that
    // has nowhere to go).
    const giveUpPageFetches = () => {
      fetchQueue.length = 0;
      for (const id of inFlight) host.cancel(id);
      inFlight.clear();
      fetching = 0;
    };

    const requestBody = (request) => {
      if (request.postDataEntries) {
        const parts = request.postDataEntries.map((e) => (e.bytes ? host.base64Decode(e.bytes) : new Uint8ArrayCtor(0)));
        const total = parts.reduce((n, p) => n + p.length, 0);
        const all = new Uint8ArrayCtor(total);
        let at = 0;
        for (const p of parts) { all.set(p, at); at += p.length; }
        return all;
      }
      if (request.postData !== undefined) return host.utf8Encode(request.postData);
      return null;
    };

    // One paused request of any target: the page's script decides first if
    // it intercepts; then it is fetched by the host, or refused.
    async function answer(connection, sessionId, page, paused) {
      const request = new HTTPRequest(page, paused);
      const send = (method, params) => connection.send(method, { requestId: paused.requestId, ...params }, sessionId).catch(() => {});
      const fail = (reason, text) => {
        request._failure = { errorText: text };
        if (page) page.emit('requestfailed', request);
        return send('Fetch.failRequest', { errorReason: reason });
      };
      if (page) page.emit('request', request);
      if (page && page._intercepting()) {
        if (request._decision() === null) await new P((resolve) => { request._wake = resolve; });
        const d = request._decision();
        if (d.action === 'abort') {
          const reason = ABORT_REASONS[asciiLower(d.reason)] || 'Failed';
          return fail(reason, netError(reason));
        }
        if (d.action === 'respond') {
          const r = d.response;
          const body = r.body === undefined ? new Uint8ArrayCtor(0) : typeof r.body === 'string' ? host.utf8Encode(r.body) : new Uint8ArrayCtor(r.body);
          const headers = [];
          for (const k of ObjectKeys(r.headers || {})) push(headers, { name: k, value: StringCtor(r.headers[k]) });
          if (r.contentType) push(headers, { name: 'content-type', value: r.contentType });
          return send('Fetch.fulfillRequest', { responseCode: r.status || 200, responseHeaders: headers, body: host.base64Encode(body) });
        }
        if (d.overrides.url) paused.request.url = d.overrides.url;
        if (d.overrides.method) paused.request.method = d.overrides.method;
        if (d.overrides.headers) paused.request.headers = d.overrides.headers;
        if (d.overrides.postData !== undefined) { paused.request.postData = d.overrides.postData; delete paused.request.postDataEntries; }
      }
      const url = paused.request.url;
      if (!/^https?:/i.test(url)) return fail('AccessDenied', netError('AccessDenied') + ': moat fetches only http(s) for the browser');
      const headers = [];
      const given = { ...paused.request.headers, ...(page ? page._extraHeaders() : {}) };
      let hasCookie = false;
      for (const k of ObjectKeys(given)) {
        if (asciiLower(k) === 'cookie') hasCookie = true;
        push(headers, [k, StringCtor(given[k])]);
      }
      // A paused request carries no Cookie header yet (the network stack
      // would add it later): the browser's own jar supplies it, so sessions
      // and logins work as in a browser.
      if (!hasCookie) {
        const jar = await connection.send('Network.getCookies', { urls: [url] }, sessionId).catch(() => null);
        let cookie = '';
        for (const c of (jar && jar.cookies) || []) cookie += (cookie ? '; ' : '') + c.name + '=' + c.value;
        if (cookie) push(headers, ['cookie', cookie]);
      }
      let head;
      let bytes;
      try {
        [head, bytes] = await hostFetch({ method: paused.request.method, url, headers, redirect: 'manual' }, requestBody(paused.request));
      } catch (e) {
        return fail(failReason(e.code), `${netError(failReason(e.code))} (${e.code}: ${e.message})`);
      }
      const responseHeaders = [];
      for (const [name, value] of head.headers) {
        if (DROPPED_HEADERS.indexOf(asciiLower(name)) === -1) push(responseHeaders, { name, value });
      }
      const fulfil = { responseCode: head.status, responseHeaders, body: host.base64Encode(bytes) };
      if (head.status_text) fulfil.responsePhrase = head.status_text;
      const response = new HTTPResponse(request, { ...head, url }, bytes);
      request._response = response;
      if (page) {
        if (paused.resourceType === 'Document' && paused.frameId === page._targetId()) page._documentResponse(response);
        page.emit('response', response);
      }
      await send('Fetch.fulfillRequest', fulfil);
      if (page) page.emit('requestfinished', request);
    }

