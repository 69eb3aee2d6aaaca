  // ----------------------------------------------------------- moat:browser

  // A Puppeteer-compatible API over the DevTools protocol of the run's own
  // Chromium (host.browserLaunch / browserSend; the runner's guard checks
  // every command). The browser has no network: every request it makes is
  // paused (the Fetch domain, on every target) and answered here with a
  // response fetched through the host, as a script's own fetch is: the same
  // egress policy, quotas and `net` events. Built on first import only.
  const ObjectKeys = Object.keys;
  const MathCeil = Math.ceil;
  let puppeteerModule = null;
  const browserModule = () => puppeteerModule || (puppeteerModule = makePuppeteer());

  function makePuppeteer() {
    const P = PromiseCtor;
    const stringify = JSONStringify;
    const parse = JSONParse;
    // Browser fetches in flight at once: the host takes 16 calls, and the
    // script's own fetches need room beside the page's.
    const MAX_PAGE_FETCHES = 12;
    const DEFAULT_TIMEOUT = 30000;
    // Puppeteer's is 180 s, longer than any plan's run: a stuck command
    // would only ever end as the run's `timeout`, saying nothing of where.
    const PROTOCOL_TIMEOUT = 30000;
    const CAPTURE_RETRY_MS = 3000;

    class TimeoutError extends ErrorCtor {
      constructor(message) {
        super(message);
        this.name = 'TimeoutError';
      }
    }
    class ProtocolError extends ErrorCtor {
      constructor(message) {
        super(message);
        this.name = 'ProtocolError';
      }
    }

    const sleep = (ms) => new P((resolve) => host.setTimer(resolve, ms, false));
    const withTimeout = (promise, ms, message) => {
      if (!(ms > 0)) return promise;
      return new P((resolve, reject) => {
        const timer = host.setTimer(() => reject(new TimeoutError(message)), ms, false);
        promise.then(
          (v) => { host.clearTimer(timer); resolve(v); },
          (e) => { host.clearTimer(timer); reject(e); },
        );
      });
    };

    class Emitter {
      #listeners = new MapCtor();
      on(name, fn) {
        if (!this.#listeners.has(name)) this.#listeners.set(name, []);
        this.#listeners.get(name).push(fn);
        return this;
      }
      once(name, fn) {
        const wrapped = (...a) => { this.off(name, wrapped); fn(...a); };
        return this.on(name, wrapped);
      }
      off(name, fn) {
        const list = this.#listeners.get(name);
        if (list) this.#listeners.set(name, list.filter((f) => f !== fn));
        return this;
      }
      addListener(name, fn) { return this.on(name, fn); }
      removeListener(name, fn) { return this.off(name, fn); }
      listenerCount(name) {
        const list = this.#listeners.get(name);
        return list ? list.length : 0;
      }
      emit(name, ...args) {
        const list = this.#listeners.get(name);
        if (!list || list.length === 0) return false;
        for (const fn of [...list]) fn(...args);
        return true;
      }
    }

    // ------------------------------------------------------- the protocol
    class Connection {
      nextId = 0;
      callbacks = new MapCtor();
      sessions = new MapCtor(); // sessionId ('' for the browser) → handler
      closed = null;
      // Puppeteer's `protocolTimeout`: a command the browser never answers
      // (a renderer wedged or gone without a word) fails, naming itself,
      // instead of leaving the script awaiting until the run's deadline.
      timeout;
      constructor(timeout) {
        this.timeout = timeout;
      }
      // `timeout` (ms) replaces the connection's own for this one command.
      send(method, params = {}, sessionId = undefined, timeout = this.timeout) {
        if (this.closed !== null) return P.reject(new ProtocolError(`Protocol error (${method}): the browser has closed (${this.closed})`));
        const id = ++this.nextId;
        const message = { id, method, params };
        if (sessionId) message.sessionId = sessionId;
        return new P((resolve, reject) => {
          // Unref'd: a command left unanswered by a closed browser does
          // not keep the run alive; a running browser does, so it fires.
          const timer = timeout > 0 ? host.setTimer(() => {
            if (!this.callbacks.delete(id)) return;
            reject(new ProtocolError(`${method} timed out. Increase the 'protocolTimeout' setting in launch/connect calls for a higher timeout if needed.`));
          }, timeout, false, true) : null;
          this.callbacks.set(id, { resolve, reject, method, timer });
          try {
            host.browserSend(stringify(message));
          } catch (e) {
            this.#forget(id);
            reject(new ProtocolError(`Protocol error (${method}): ${e.message}`));
          }
        });
      }
      #forget(id) {
        const cb = this.callbacks.get(id);
        if (!cb) return null;
        this.callbacks.delete(id);
        if (cb.timer !== null) host.clearTimer(cb.timer);
        return cb;
      }
      dispatch(text, why) {
        if (text === null) {
          this.closed = why;
          for (const [, cb] of this.callbacks) {
            if (cb.timer !== null) host.clearTimer(cb.timer);
            cb.reject(new ProtocolError(`Protocol error (${cb.method}): the browser has closed (${why})`));
          }
          this.callbacks.clear();
          const handler = this.sessions.get('');
          if (handler) handler('Moat.closed', { why });
          return;
        }
        let m;
        try {
          m = parse(text);
        } catch {
          return;
        }
        if (m.id !== undefined) {
          const cb = this.#forget(m.id);
          if (!cb) return;
          if (m.error) cb.reject(new ProtocolError(`Protocol error (${cb.method}): ${m.error.message}`));
          else cb.resolve(m.result);
          return;
        }
        const handler = this.sessions.get(m.sessionId || '');
        if (handler) {
          try {
            handler(m.method, m.params || {});
          } catch (e) {
            // A listener of the script's that throws is the script's error.
            P.reject(e);
          }
        }
      }
    }

    // What a thrown value in the page looks like here.
    const evaluationError = (details) => {
      const ex = details.exception;
      const text = ex && (ex.description || (ex.value !== undefined ? StringCtor(ex.value) : '')) || details.text || 'Evaluation failed';
      const error = new ErrorCtor(text);
      return error;
    };

    // A remote value as a local one (by value), or undefined.
    const fromRemote = (r) => {
      if (!r) return undefined;
      if (r.unserializableValue !== undefined) {
        const u = r.unserializableValue;
        if (u === '-0') return -0;
        if (u === 'NaN') return NaN;
        if (u === 'Infinity') return Infinity;
        if (u === '-Infinity') return -Infinity;
        if (u[u.length - 1] === 'n') return BigInt(StringSlice(u, 0, -1));
      }
      return r.value;
    };

    // An argument for Runtime.callFunctionOn.
    const toArgument = (a) => {
      if (a instanceof JSHandle) return { objectId: a._objectId() };
      if (a === undefined) return {};
      if (typeof a === 'number') {
        if (a !== a) return { unserializableValue: 'NaN' };
        if (a === Infinity) return { unserializableValue: 'Infinity' };
        if (a === -Infinity) return { unserializableValue: '-Infinity' };
        if (a === 0 && 1 / a < 0) return { unserializableValue: '-0' };
      }
      if (typeof a === 'bigint') return { unserializableValue: `${a}n` };
      return { value: a };
    };

    // The module's own page functions, as source text: the prelude is
    // compiled without its source, so its functions cannot be sent as text.
    class PageSource {
      constructor(text) { this.text = text; }
    }
    const inPage = (strings) => new PageSource(strings.raw[0]);

    // A function's source as a declaration the page can call: arrow
    // functions and `function`s as they are, method shorthands made whole.
    const declaration = (fn) => {
      if (fn instanceof PageSource) return fn.text;
      if (typeof fn !== 'function') throw new TypeErrorCtor('the page function must be a function or a string');
      const text = FunctionToString(fn);
      if (/^(async\s*)?(function\b|\(|[A-Za-z_$][\w$]*\s*=>)/.test(text)) return text;
      if (/^async\s/.test(text)) return 'async function ' + StringSlice(text, 6);
      return 'function ' + text;
    };

    // ---------------------------------------------------------- handles
    class JSHandle {
      #page;
      #remote;
      constructor(page, remote) {
        this.#page = page;
        this.#remote = remote;
      }
      _objectId() {
        if (!this.#remote.objectId) throw new ErrorCtor('JSHandle is disposed or holds a primitive');
        return this.#remote.objectId;
      }
      _page() { return this.#page; }
      _remote() { return this.#remote; }
      asElement() { return null; }
      async evaluate(fn, ...args) { return this.#page._call(fn, [this, ...args], true, this); }
      async evaluateHandle(fn, ...args) { return this.#page._call(fn, [this, ...args], false, this); }
      async jsonValue() {
        if (!this.#remote.objectId) return fromRemote(this.#remote);
        return this.evaluate(inPage`(v) => v`);
      }
      async getProperty(name) { return this.evaluateHandle(inPage`(v, n) => v[n]`, name); }
      async getProperties() {
        const map = new MapCtor();
        if (!this.#remote.objectId) return map;
        const { result } = await this.#page._send('Runtime.getProperties', { objectId: this.#remote.objectId, ownProperties: true });
        for (const p of result) if (p.enumerable && p.value) map.set(p.name, this.#page._handle(p.value));
        return map;
      }
      async dispose() {
        const id = this.#remote.objectId;
        this.#remote = { type: 'undefined' };
        if (id) await this.#page._send('Runtime.releaseObject', { objectId: id }).catch(() => {});
      }
      toString() { return 'JSHandle@' + this.#remote.type; }
    }

    class ElementHandle extends JSHandle {
      asElement() { return this; }
      async $(selector) { return this.#query(selector); }
      async $$(selector) { return this.#queryAll(selector); }
      async $eval(selector, fn, ...args) {
        const el = await this.#query(selector);
        if (!el) throw new ErrorCtor(`Error: failed to find element matching selector "${selector}"`);
        try { return await el.evaluate(fn, ...args); } finally { await el.dispose(); }
      }
      async $$eval(selector, fn, ...args) {
        const list = await this.evaluateHandle(inPage`(root, s) => Array.from(root.querySelectorAll(s))`, selector);
        try { return await list.evaluate(fn, ...args); } finally { await list.dispose(); }
      }
      async #query(selector) {
        const h = await this.evaluateHandle(inPage`(root, s) => root.querySelector(s)`, selector);
        if (!(h instanceof ElementHandle)) { await h.dispose(); return null; }
        return h;
      }
      async #queryAll(selector) {
        const list = await this.evaluateHandle(inPage`(root, s) => Array.from(root.querySelectorAll(s))`, selector);
        const props = await list.getProperties();
        await list.dispose();
        const out = [];
        for (const [, h] of props) if (h instanceof ElementHandle) out.push(h);
        return out;
      }
      async #point() {
        const box = await this.evaluate(inPage`(el) => {
          if (!(el instanceof Element)) return null;
          el.scrollIntoView({ block: 'center', inline: 'center', behavior: 'instant' });
          const r = el.getBoundingClientRect();
          return { x: r.x, y: r.y, width: r.width, height: r.height };
        }`);
        if (!box || box.width === 0 || box.height === 0) throw new ErrorCtor('Node is either not clickable or not an Element');
        return { x: box.x + box.width / 2, y: box.y + box.height / 2 };
      }
      async click(options = {}) {
        const { x, y } = await this.#point();
        await this._page().mouse.click(x, y, options);
      }
      async hover() {
        const { x, y } = await this.#point();
        await this._page().mouse.move(x, y);
      }
      async focus() { await this.evaluate(inPage`(el) => el.focus()`); }
      async type(text, options = {}) {
        await this.focus();
        await this._page().keyboard.type(text, options);
      }
      async press(key, options = {}) {
        await this.focus();
        await this._page().keyboard.press(key, options);
      }
      async boundingBox() {
        return this.evaluate(inPage`(el) => {
          const r = el.getBoundingClientRect();
          return r.width === 0 && r.height === 0 ? null : { x: r.x, y: r.y, width: r.width, height: r.height };
        }`);
      }
      async screenshot(options = {}) {
        const clip = await this.evaluate(inPage`(el) => {
          el.scrollIntoView({ block: 'center', inline: 'center', behavior: 'instant' });
          const r = el.getBoundingClientRect();
          return { x: r.x + window.scrollX, y: r.y + window.scrollY, width: r.width, height: r.height };
        }`);
        if (!clip || clip.width === 0 || clip.height === 0) throw new ErrorCtor('Node has 0 width or height');
        return this._page().screenshot({ ...options, clip, fullPage: false });
      }
      toString() { return 'JSHandle@node'; }
    }

