    // ----------------------------------------------------------- Browser
    // The targets whose requests are paused in their own session. A
    // dedicated worker has no Fetch domain: its requests pause in its
    // page's session, which answers them like the page's own.
    const FETCHING_TYPES = ['page', 'iframe', 'shared_worker', 'service_worker'];

    class Browser extends Emitter {
      #connection;
      #version = null;
      #pages = new MapCtor(); // targetId → Page
      #sessions = new MapCtor(); // sessionId → the Page it belongs to (or null)
      #opening = new MapCtor(); // targetId → resolve, for newPage
      #viewport;
      #closed = false;
      // The tab the browser opens with, handed to the first newPage(): a
      // new target costs a renderer process, seconds in a cold sandbox.
      #spare = null;
      #spareSeen = null;
      #spareGiven = false;
      constructor(connection, viewport) {
        super();
        this.#connection = connection;
        this.#viewport = viewport;
      }
      _connection() { return this.#connection; }
      async _start(timeout) {
        this.#connection.sessions.set('', (method, params) => this.#event('', method, params));
        // The browser's first answer waits on its start: launch's own
        // `timeout` bounds it, not the protocol's.
        this.#version = await withTimeout(this.#connection.send('Browser.getVersion', {}, undefined, 0), timeout, `Timed out after ${timeout} ms while waiting for the browser to start`);
        const seen = new P((resolve) => { this.#spareSeen = resolve; });
        await this.#connection.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: true, flatten: true });
        await withTimeout(seen, 5000, '').catch(() => {});
      }
      // Every target the browser makes is attached, paused before it runs:
      // its requests are intercepted before the first can leave.
      async #attached(parent, params) {
        const { sessionId, targetInfo } = params;
        const c = this.#connection;
        const owner = parent === '' ? null : this.#sessions.get(parent) || null;
        let page = owner;
        if (targetInfo.type === 'page' && parent === '') {
          page = new Page(this, sessionId, targetInfo.targetId);
        }
        this.#sessions.set(sessionId, page);
        c.sessions.set(sessionId, (method, p) => this.#event(sessionId, method, p));
        const steps = [];
        if (FETCHING_TYPES.indexOf(targetInfo.type) !== -1) steps.push(c.send('Fetch.enable', { patterns: [{ urlPattern: '*', requestStage: 'Request' }] }, sessionId));
        steps.push(c.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: true, flatten: true }, sessionId));
        if (targetInfo.type === 'page' && parent === '') {
          steps.push(c.send('Page.enable', {}, sessionId));
          steps.push(c.send('Page.setLifecycleEventsEnabled', { enabled: true }, sessionId));
          steps.push(c.send('Runtime.enable', {}, sessionId));
          if (this.#viewport) steps.push(page.setViewport(this.#viewport));
        }
        // A step a target does not support fails alone; the target is let
        // run in any case (a worker left waiting would never start).
        const failed = [];
        await P.all(steps.map((step) => step.catch((e) => { failed.push(e.message); })));
        if (failed.length) host.log('debug', `moat:browser ${targetInfo.type}: ${failed.join('; ')}`);
        await c.send('Runtime.runIfWaitingForDebugger', {}, sessionId).catch(() => {});
        if (targetInfo.type === 'page' && parent === '') {
          this.#pages.set(targetInfo.targetId, page);
          const opened = this.#opening.get(targetInfo.targetId);
          if (opened) {
            this.#opening.delete(targetInfo.targetId);
            opened(page);
          } else if (this.#spareSeen !== null && !this.#spareGiven && this.#spare === null) {
            this.#spare = page;
            this.#spareSeen();
          } else {
            this.emit('targetcreated', { type: () => 'page', page: async () => page, url: () => targetInfo.url });
          }
        }
      }
      #event(sessionId, method, params) {
        if (method === 'Moat.closed') {
          this.#closed = true;
          giveUpPageFetches();
          for (const [, page] of this.#pages) page._closedNow();
          this.emit('disconnected');
          return;
        }
        if (method === 'Target.attachedToTarget') {
          this.#attached(sessionId, params);
          return;
        }
        if (method === 'Target.detachedFromTarget') {
          const page = this.#sessions.get(params.sessionId);
          this.#sessions.delete(params.sessionId);
          this.#connection.sessions.delete(params.sessionId);
          if (page && page._session() === params.sessionId) {
            this.#pages.delete(page._targetId());
            page._closedNow();
          }
          return;
        }
        if (method === 'Fetch.requestPaused') {
          // Answering fails only when the browser has gone meanwhile: the
          // browser's trouble, never the script's error.
          answer(this.#connection, sessionId, this.#sessions.get(sessionId) || null, params).catch(() => {});
          return;
        }
        const page = this.#sessions.get(sessionId);
        if (page && page._session() === sessionId) page._event(method, params);
      }
      async newPage() {
        if (this.#closed) throw new ErrorCtor('Protocol error: the browser has closed');
        const spare = this.#spare;
        this.#spare = null;
        if (!this.#spareGiven && spare !== null && !spare.isClosed()) {
          this.#spareGiven = true;
          return spare;
        }
        this.#spareGiven = true;
        const { targetId } = await this.#connection.send('Target.createTarget', { url: 'about:blank' });
        const ready = this.#pages.get(targetId);
        if (ready) return ready;
        return withTimeout(new P((resolve) => this.#opening.set(targetId, resolve)), DEFAULT_TIMEOUT, 'Timed out waiting for the new page');
      }
      async pages() {
        // The opening tab is the script's now (as in Puppeteer, the first
        // of the pages): newPage() makes new ones from here on.
        this.#spareGiven = true;
        this.#spare = null;
        return [...this.#pages.values()].filter((p) => !p.isClosed());
      }
      async version() { return this.#version ? this.#version.product : ''; }
      async userAgent() { return this.#version ? this.#version.userAgent : ''; }
      isConnected() { return !this.#closed; }
      connected() { return !this.#closed; }
      process() { return null; }
      wsEndpoint() { return ''; }
      targets() { return [...this.#pages.values()].map((p) => ({ type: () => 'page', page: async () => p, url: () => p.url() })); }
      defaultBrowserContext() { return this; }
      browserContexts() { return [this]; }
      async createBrowserContext() { return this; }
      async createIncognitoBrowserContext() { return this; }
      async close() {
        if (this.#closed) return;
        await withTimeout(this.#connection.send('Browser.close').catch(() => {}), 2000, '').catch(() => {});
        if (this.#closed) return;
        host.browserClose();
        // As if the browser had said its last: what it left unanswered
        // fails, its pages close, 'disconnected' is emitted (Moat.closed).
        this.#connection.dispatch(null, 'the browser was closed');
      }
      async disconnect() { return this.close(); }
    }

    // puppeteer.launch(): the run's one browser. The options a script may
    // pass to its own Chromium (`args`, `executablePath`, `headless`,
    // `userDataDir`, ...) are accepted and ignored: the runner decides how
    // the browser runs.
    async function launch(options = {}) {
      const connection = new Connection(options.protocolTimeout !== undefined ? options.protocolTimeout : PROTOCOL_TIMEOUT);
      host.browserLaunch((text, why) => connection.dispatch(text, why));
      const viewport = options.defaultViewport === undefined ? { width: 800, height: 600 } : options.defaultViewport;
      const browser = new Browser(connection, viewport);
      try {
        await browser._start(options.timeout !== undefined ? options.timeout : DEFAULT_TIMEOUT);
      } catch (e) {
        host.browserClose();
        throw e;
      }
      return browser;
    }

    const errors = ObjectFreeze({ TimeoutError, ProtocolError });
    const puppeteer = ObjectFreeze({
      launch,
      connect: () => P.reject(new ErrorCtor('puppeteer.connect is not available: launch() starts the run\'s own browser')),
      executablePath: () => '',
      defaultArgs: () => [],
      errors,
      TimeoutError,
      ProtocolError,
      KnownDevices: ObjectFreeze({}),
      devices: ObjectFreeze({}),
    });
    return puppeteer;
  }
