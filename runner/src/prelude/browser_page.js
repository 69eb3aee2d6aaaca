    // -------------------------------------------------------------- Page
    const LIFECYCLE = { load: 'load', domcontentloaded: 'DOMContentLoaded', networkidle0: 'networkIdle', networkidle2: 'networkAlmostIdle' };
    const lifecycleNames = (waitUntil) => {
      const list = ArrayIsArray(waitUntil) ? waitUntil : [waitUntil || 'load'];
      return list.map((w) => {
        const name = LIFECYCLE[w];
        if (!name) throw new ErrorCtor(`Unknown value for options.waitUntil: ${w}`);
        return name;
      });
    };
    const checkUrl = (url) => {
      const scheme = asciiLower(StringSlice(url, 0, StringIndexOf(url, ':') + 1));
      if (scheme === 'http:' || scheme === 'https:' || scheme === 'data:' || asciiLower(url) === 'about:blank') return;
      throw new ErrorCtor(`net::ERR_ACCESS_DENIED at ${url}: the browser opens only http(s), data: and about:blank pages`);
    };

    class Page extends Emitter {
      #browser;
      #session;
      #targetId;
      #url = 'about:blank';
      #closed = false;
      #loaders = new MapCtor(); // loaderId → Set of lifecycle names seen
      #loader = null; // the main frame's current loaderId
      #waiters = new SetCtor(); // functions to call on every lifecycle change
      #document = null; // the last main-frame document response
      #intercepting = false;
      #extra = {};
      #viewport = null;
      #timeout = DEFAULT_TIMEOUT;
      #navigationTimeout = null;
      keyboard;
      mouse;
      constructor(browser, session, targetId) {
        super();
        this.#browser = browser;
        this.#session = session;
        this.#targetId = targetId;
        this.keyboard = new Keyboard(this);
        this.mouse = new Mouse(this);
      }
      _send(method, params = {}) { return this.#browser._connection().send(method, params, this.#session); }
      _targetId() { return this.#targetId; }
      _session() { return this.#session; }
      _intercepting() { return this.#intercepting; }
      _extraHeaders() { return this.#extra; }
      _documentResponse(r) { this.#document = r; }
      _handle(remote) { return remote.subtype === 'node' ? new ElementHandle(this, remote) : new JSHandle(this, remote); }
      _closedNow() {
        this.#closed = true;
        for (const w of this.#waiters) w();
        this.emit('close');
      }
      _event(method, params) {
        switch (method) {
          case 'Page.lifecycleEvent': {
            if (params.frameId !== this.#targetId) return;
            if (params.name === 'init') {
              this.#loader = params.loaderId;
              this.#loaders.set(params.loaderId, new SetCtor());
            }
            if (!this.#loaders.has(params.loaderId)) this.#loaders.set(params.loaderId, new SetCtor());
            this.#loaders.get(params.loaderId).add(params.name);
            if (params.name === 'load') this.emit('load');
            if (params.name === 'DOMContentLoaded') this.emit('domcontentloaded');
            for (const w of [...this.#waiters]) w();
            return;
          }
          case 'Page.frameNavigated':
            if (!params.frame.parentId) {
              this.#url = params.frame.url + (params.frame.urlFragment || '');
              this.#loader = params.frame.loaderId;
              this.emit('framenavigated', this.mainFrame());
              for (const w of [...this.#waiters]) w();
            }
            return;
          case 'Page.navigatedWithinDocument':
            if (params.frameId === this.#targetId) {
              this.#url = params.url;
              for (const w of [...this.#waiters]) w();
            }
            return;
          case 'Runtime.consoleAPICalled': {
            const args = params.args.map((a) => this._handle(a));
            const text = params.args.map((a) => (a.value !== undefined ? StringCtor(a.value) : a.unserializableValue || a.description || '')).join(' ');
            const type = params.type === 'warning' ? 'warn' : params.type;
            this.emit('console', { type: () => type, text: () => text, args: () => args, location: () => ({}) });
            return;
          }
          case 'Runtime.exceptionThrown':
            this.emit('pageerror', evaluationError(params.exceptionDetails));
            return;
          case 'Page.javascriptDialogOpening': {
            const send = (accept, promptText) => this._send('Page.handleJavaScriptDialog', { accept, promptText });
            const dialog = {
              type: () => params.type, message: () => params.message, defaultValue: () => params.defaultPrompt || '',
              accept: (text) => send(true, text), dismiss: () => send(false),
            };
            // Nobody listening: dismissed, or the page would wait forever.
            if (!this.emit('dialog', dialog)) send(false).catch(() => {});
            return;
          }
          default:
        }
      }
      // Resolves once `names` have all been seen for the navigation that
      // `loaderOf()` names, or rejects with a TimeoutError.
      #lifecycle(names, loaderOf, timeout) {
        const seen = new P((resolve, reject) => {
          const check = () => {
            if (this.#closed) { this.#waiters.delete(check); reject(new ErrorCtor('Navigating frame was detached')); return; }
            const loader = loaderOf();
            if (loader === undefined) return;
            if (loader === null) { this.#waiters.delete(check); resolve(); return; }
            const set = this.#loaders.get(loader);
            if (set && names.every((n) => set.has(n))) { this.#waiters.delete(check); resolve(); }
          };
          this.#waiters.add(check);
          check();
        });
        return withTimeout(seen, timeout, `Navigation timeout of ${timeout} ms exceeded`);
      }
      #navTimeout(options) {
        if (options.timeout !== undefined) return options.timeout;
        return this.#navigationTimeout !== null ? this.#navigationTimeout : this.#timeout;
      }
      async goto(url, options = {}) {
        url = StringCtor(url);
        checkUrl(url);
        const names = lifecycleNames(options.waitUntil);
        const timeout = this.#navTimeout(options);
        this.#document = null;
        let target;
        const navigated = this._send('Page.navigate', { url, frameId: this.#targetId, referrer: options.referer }).then((r) => {
          if (r.errorText) throw new ErrorCtor(`${r.errorText} at ${url}`);
          target = r.loaderId === undefined ? null : r.loaderId;
        });
        await withTimeout(navigated, timeout, `Navigation timeout of ${timeout} ms exceeded`);
        await this.#lifecycle(names, () => target, timeout);
        return this.#document;
      }
      async waitForNavigation(options = {}) {
        const names = lifecycleNames(options.waitUntil);
        const timeout = this.#navTimeout(options);
        const before = this.#loader;
        const url = this.#url;
        // A new document (a new loader), or a same-document move (the URL).
        await this.#lifecycle(names, () => (this.#loader !== before ? this.#loader : this.#url !== url ? null : undefined), timeout);
        return this.#loader !== before ? this.#document : null;
      }
      async reload(options = {}) {
        const waiting = this.waitForNavigation(options);
        await this._send('Page.reload', {});
        return waiting;
      }
      async goBack(options = {}) {
        const waiting = this.waitForNavigation(options);
        await this.evaluate(inPage`() => history.back()`);
        return waiting;
      }
      async goForward(options = {}) {
        const waiting = this.waitForNavigation(options);
        await this.evaluate(inPage`() => history.forward()`);
        return waiting;
      }
      url() { return this.#url; }
      isClosed() { return this.#closed; }
      browser() { return this.#browser; }
      mainFrame() {
        const page = this;
        return {
          url: () => page.url(), name: () => '', parentFrame: () => null, childFrames: () => [], page: () => page,
          evaluate: (...a) => page.evaluate(...a), evaluateHandle: (...a) => page.evaluateHandle(...a),
          $: (s) => page.$(s), $$: (s) => page.$$(s), $eval: (...a) => page.$eval(...a), $$eval: (...a) => page.$$eval(...a),
          title: () => page.title(), content: () => page.content(), goto: (u, o) => page.goto(u, o),
          waitForSelector: (s, o) => page.waitForSelector(s, o), waitForFunction: (...a) => page.waitForFunction(...a),
          waitForNavigation: (o) => page.waitForNavigation(o), click: (s, o) => page.click(s, o), type: (s, t, o) => page.type(s, t, o),
        };
      }
      frames() { return [this.mainFrame()]; }
      setDefaultTimeout(ms) { this.#timeout = ms; }
      setDefaultNavigationTimeout(ms) { this.#navigationTimeout = ms; }
      // fn(...args) in the page; `self` (a handle) is `this` and the first
      // argument is `args[0]` when called on a handle.
      async _call(fn, args, byValue, self = null) {
        let objectId;
        let declared;
        if (typeof fn === 'string') {
          if (self === null && args.length === 0) {
            const r = await this._send('Runtime.evaluate', { expression: fn, returnByValue: byValue, awaitPromise: true, userGesture: true });
            if (r.exceptionDetails) throw evaluationError(r.exceptionDetails);
            return byValue ? fromRemote(r.result) : this._handle(r.result);
          }
          declared = `function () { return (${fn}); }`;
        } else {
          declared = declaration(fn);
        }
        if (self !== null) {
          objectId = self._objectId();
        } else {
          const g = await this._send('Runtime.evaluate', { expression: 'globalThis' });
          objectId = g.result.objectId;
        }
        const r = await this._send('Runtime.callFunctionOn', {
          functionDeclaration: declared, objectId, arguments: args.map(toArgument),
          returnByValue: byValue, awaitPromise: true, userGesture: true,
        });
        if (self === null) this._send('Runtime.releaseObject', { objectId }).catch(() => {});
        if (r.exceptionDetails) throw evaluationError(r.exceptionDetails);
        return byValue ? fromRemote(r.result) : this._handle(r.result);
      }
      evaluate(fn, ...args) { return this._call(fn, args, true); }
      evaluateHandle(fn, ...args) { return this._call(fn, args, false); }
      async #root() { return this.evaluateHandle(inPage`() => document`); }
      async $(selector) {
        const doc = await this.#root();
        try { return await doc.$(selector); } finally { await doc.dispose(); }
      }
      async $$(selector) {
        const doc = await this.#root();
        try { return await doc.$$(selector); } finally { await doc.dispose(); }
      }
      async $eval(selector, fn, ...args) {
        const doc = await this.#root();
        try { return await doc.$eval(selector, fn, ...args); } finally { await doc.dispose(); }
      }
      async $$eval(selector, fn, ...args) {
        const doc = await this.#root();
        try { return await doc.$$eval(selector, fn, ...args); } finally { await doc.dispose(); }
      }
      async #element(selector) {
        const el = await this.$(selector);
        if (!el) throw new ErrorCtor(`No element found for selector: ${selector}`);
        return el;
      }
      async click(selector, options = {}) {
        const el = await this.#element(selector);
        try { await el.click(options); } finally { await el.dispose(); }
      }
      async hover(selector) {
        const el = await this.#element(selector);
        try { await el.hover(); } finally { await el.dispose(); }
      }
      async focus(selector) {
        const el = await this.#element(selector);
        try { await el.focus(); } finally { await el.dispose(); }
      }
      async type(selector, text, options = {}) {
        const el = await this.#element(selector);
        try { await el.type(text, options); } finally { await el.dispose(); }
      }
      async select(selector, ...values) {
        return this.$eval(selector, inPage`(el, vals) => {
          const chosen = [];
          for (const o of el.options) {
            o.selected = vals.includes(o.value);
            if (o.selected) chosen.push(o.value);
          }
          el.dispatchEvent(new Event('input', { bubbles: true }));
          el.dispatchEvent(new Event('change', { bubbles: true }));
          return chosen;
        }`, values);
      }
      async #poll(check, timeout, polling, what) {
        const interval = typeof polling === 'number' ? polling : 100;
        const until = performanceNow() + timeout;
        for (;;) {
          let got;
          try {
            got = await check();
          } catch (e) {
            // A navigation destroys the context mid-check: look again.
            if (!/context|destroyed|navigat|detached|Cannot find/i.test(StringCtor(e && e.message))) throw e;
          }
          if (got) return got;
          if (this.#closed) throw new ErrorCtor(`${what} failed: the page was closed`);
          if (timeout > 0 && performanceNow() >= until) throw new TimeoutError(`${what} failed: Waiting failed: ${timeout}ms exceeded`);
          await sleep(interval);
        }
      }
      async waitForSelector(selector, options = {}) {
        const timeout = options.timeout !== undefined ? options.timeout : this.#timeout;
        const visible = !!options.visible;
        const hidden = !!options.hidden;
        const found = await this.#poll(async () => {
          const ok = await this.evaluate(inPage`(s, vis, hid) => {
            const el = document.querySelector(s);
            const shown = (e) => {
              const style = getComputedStyle(e);
              const r = e.getBoundingClientRect();
              return style.visibility !== 'hidden' && style.display !== 'none' && r.width > 0 && r.height > 0;
            };
            if (hid) return !el || !shown(el);
            return !!el && (!vis || shown(el));
          }`, selector, visible, hidden);
          return ok ? { ok } : null;
        }, timeout, 100, `Waiting for selector \`${selector}\``);
        if (hidden || !found) return null;
        return this.$(selector);
      }
      async waitForFunction(fn, options = {}, ...args) {
        const timeout = options.timeout !== undefined ? options.timeout : this.#timeout;
        return this.#poll(async () => {
          const h = await this._call(fn, args, false);
          // A primitive comes back as its value, with no object to ask.
          const remote = h._remote();
          const truthy = remote.objectId ? await h.evaluate(inPage`(v) => !!v`) : !!fromRemote(remote);
          if (truthy) return h;
          await h.dispose();
          return null;
        }, timeout, options.polling, 'Waiting for function');
      }
      async waitForTimeout(ms) { await sleep(ms); }
      async title() { return this.evaluate(inPage`() => document.title`); }
      async content() {
        return this.evaluate(inPage`() => {
          let out = '';
          if (document.doctype) out = new XMLSerializer().serializeToString(document.doctype);
          if (document.documentElement) out += document.documentElement.outerHTML;
          return out;
        }`);
      }
      async setContent(html, options = {}) {
        const timeout = this.#navTimeout(options);
        await this.evaluate(inPage`(h) => { document.open(); document.write(h); document.close(); }`, StringCtor(html));
        await this.#poll(() => this.evaluate(inPage`() => document.readyState === 'complete'`), timeout, 20, 'Setting content');
      }
      async setViewport(viewport) {
        if (viewport === null) {
          this.#viewport = null;
          await this._send('Emulation.clearDeviceMetricsOverride');
          return;
        }
        const { width, height, deviceScaleFactor = 1, isMobile = false, hasTouch = false, isLandscape = false } = viewport;
        await this._send('Emulation.setDeviceMetricsOverride', {
          width, height, deviceScaleFactor, mobile: isMobile,
          screenOrientation: isLandscape ? { angle: 90, type: 'landscapePrimary' } : { angle: 0, type: 'portraitPrimary' },
        });
        await this._send('Emulation.setTouchEmulationEnabled', { enabled: hasTouch });
        this.#viewport = { width, height, deviceScaleFactor, isMobile, hasTouch, isLandscape };
      }
      viewport() { return this.#viewport; }
      async setUserAgent(userAgent) { await this._send('Emulation.setUserAgentOverride', { userAgent }); }
      async setExtraHTTPHeaders(headers) {
        const out = {};
        for (const k of ObjectKeys(headers)) out[asciiLower(k)] = StringCtor(headers[k]);
        this.#extra = out;
      }
      async setJavaScriptEnabled(enabled) { await this._send('Emulation.setScriptExecutionDisabled', { value: !enabled }); }
      async setRequestInterception(on) { this.#intercepting = !!on; }
      async setCacheEnabled() {}
      async bringToFront() { await this._send('Page.bringToFront'); }
      // Chromium under gVisor now and then leaves a capture unanswered (no
      // frame comes; 4 of 54 warm runs here, the page still
      // answering): after CAPTURE_RETRY_MS a second capture is asked for,
      // and whichever answers first is the screenshot.
      #capture(params) {
        const once = () => this._send('Page.bringToFront').then(() => this._send('Page.captureScreenshot', params));
        return new P((resolve, reject) => {
          const retry = host.setTimer(() => once().then(resolve, reject), CAPTURE_RETRY_MS, false, true);
          once().then(
            (v) => { host.clearTimer(retry); resolve(v); },
            (e) => { host.clearTimer(retry); reject(e); },
          );
        });
      }
      async screenshot(options = {}) {
        const path = options.path === undefined ? undefined : StringCtor(options.path);
        let type = options.type;
        if (type === undefined && path !== undefined) {
          const lower = asciiLower(path);
          type = /\.jpe?g$/.test(lower) ? 'jpeg' : /\.webp$/.test(lower) ? 'webp' : 'png';
        }
        type = type || 'png';
        const params = { format: type, captureBeyondViewport: false };
        if (type !== 'png' && options.quality !== undefined) params.quality = options.quality;
        if (options.clip) {
          params.clip = { scale: 1, ...options.clip };
          params.captureBeyondViewport = true;
        } else if (options.fullPage) {
          const m = await this._send('Page.getLayoutMetrics');
          const size = m.cssContentSize || m.contentSize;
          params.clip = { x: 0, y: 0, width: MathCeil(size.width), height: MathCeil(size.height), scale: 1 };
          params.captureBeyondViewport = true;
        }
        if (options.omitBackground) await this._send('Emulation.setDefaultBackgroundColorOverride', { color: { r: 0, g: 0, b: 0, a: 0 } });
        let data;
        try {
          ({ data } = await this.#capture(params));
        } finally {
          if (options.omitBackground) await this._send('Emulation.setDefaultBackgroundColorOverride', {});
        }
        if (options.encoding === 'base64' && path === undefined) return data;
        const bytes = host.base64Decode(data);
        if (path !== undefined) save(baseName(path), bytes, { type: 'image/' + type });
        return options.encoding === 'base64' ? data : bytes;
      }
      async pdf(options = {}) {
        const paper = { letter: [8.5, 11], legal: [8.5, 14], a3: [11.7, 16.54], a4: [8.27, 11.7], a5: [5.83, 8.27] };
        const size = paper[asciiLower(options.format || 'letter')] || paper.letter;
        const m = options.margin || {};
        const inches = (v) => (v === undefined ? 0 : typeof v === 'number' ? v / 96 : parseFloat(v) / (/in$/.test(v) ? 1 : /cm$/.test(v) ? 2.54 : /mm$/.test(v) ? 25.4 : 96));
        const { data } = await this._send('Page.printToPDF', {
          landscape: !!options.landscape, printBackground: !!options.printBackground, scale: options.scale || 1,
          paperWidth: options.width !== undefined ? inches(options.width) : size[0],
          paperHeight: options.height !== undefined ? inches(options.height) : size[1],
          marginTop: inches(m.top), marginBottom: inches(m.bottom), marginLeft: inches(m.left), marginRight: inches(m.right),
          pageRanges: options.pageRanges || '', preferCSSPageSize: !!options.preferCSSPageSize,
        });
        const bytes = host.base64Decode(data);
        if (options.path !== undefined) save(baseName(StringCtor(options.path)), bytes, { type: 'application/pdf' });
        return bytes;
      }
      async cookies(...urls) {
        const { cookies } = await this._send('Network.getCookies', { urls: urls.length ? urls : [this.#url] });
        return cookies;
      }
      async setCookie(...cookies) {
        const url = this.#url;
        const list = cookies.map((c) => (c.url === undefined && c.domain === undefined && /^https?:/.test(url) ? { ...c, url } : c));
        await this._send('Network.setCookies', { cookies: list });
      }
      async deleteCookie(...cookies) {
        for (const c of cookies) {
          await this._send('Network.deleteCookies', c.url === undefined && c.domain === undefined ? { ...c, url: this.#url } : c);
        }
      }
      async close() {
        if (this.#closed) return;
        await this.#browser._connection().send('Target.closeTarget', { targetId: this.#targetId }).catch(() => {});
        this._closedNow();
      }
    }

    const baseName = (path) => {
      const parts = path.split(/[\\/]/);
      return parts[parts.length - 1];
    };

