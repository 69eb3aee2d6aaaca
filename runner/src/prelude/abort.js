  // ------------------------------------------------ AbortController, signals

  // Listeners are kept per signal in a private list and called in order;
  // a listener that throws is reported like an uncaught error would be in a
  // browser, not allowed to stop the others (here: logged to the console).
  const signalAbort = Symbol('abort');
  let abortSignal; // (signal, reason): set by the class's static block below

  class AbortSignal {
    #aborted = false;
    #reason = undefined;
    #listeners = [];
    onabort = null;
    constructor(key) {
      if (key !== signalAbort) throw new TypeErrorCtor('Illegal constructor');
    }
    get aborted() {
      return this.#aborted;
    }
    get reason() {
      return this.#reason;
    }
    throwIfAborted() {
      if (this.#aborted) throw this.#reason;
    }
    addEventListener(type, listener, options = undefined) {
      if (type !== 'abort' || (typeof listener !== 'function' && (listener === null || typeof listener !== 'object'))) return;
      const once = options !== null && typeof options === 'object' && !!options.once;
      push(this.#listeners, { listener, once });
    }
    removeEventListener(type, listener) {
      if (type !== 'abort') return;
      const kept = [];
      for (let i = 0; i < this.#listeners.length; i++) if (this.#listeners[i].listener !== listener) push(kept, this.#listeners[i]);
      this.#listeners = kept;
    }
    static {
      abortSignal = (signal, reason) => AbortSignal.#abort(signal, reason);
    }
    static #abort(signal, reason) {
      if (signal.#aborted) return;
      signal.#aborted = true;
      signal.#reason = reason === undefined ? new DOMExceptionCtor('This operation was aborted', 'AbortError') : reason;
      const listeners = signal.#listeners;
      signal.#listeners = [];
      const event = ObjectFreeze({ type: 'abort', target: signal });
      const fire = (fn, self) => {
        try {
          ReflectApply(fn, self, [event]);
        } catch (e) {
          host.log('error', 'Uncaught in an abort listener: ' + inspect(e));
        }
      };
      if (typeof signal.onabort === 'function') fire(signal.onabort, signal);
      for (let i = 0; i < listeners.length; i++) {
        const l = listeners[i].listener;
        if (typeof l === 'function') fire(l, signal);
        else if (l !== null && typeof l.handleEvent === 'function') fire(l.handleEvent, l);
      }
    }
    static abort(reason = undefined) {
      const signal = new AbortSignal(signalAbort);
      abortSignal(signal, reason);
      return signal;
    }
    // The timer does not keep the run alive (Node's is unref'd too): a run
    // whose fetch finished early does not wait for its timeout signal.
    static timeout(ms) {
      const delay = +ms;
      if (!(delay >= 0) || delay === Infinity) throw new RangeErrorCtor('The timeout must be a finite number of milliseconds, 0 or more');
      const signal = new AbortSignal(signalAbort);
      host.setTimer(() => abortSignal(signal, new DOMExceptionCtor('The operation was aborted due to timeout', 'TimeoutError')), delay, false, true);
      return signal;
    }
    static any(signals) {
      const signal = new AbortSignal(signalAbort);
      for (const s of signals) {
        if (s.aborted) {
          abortSignal(signal, s.reason);
          return signal;
        }
      }
      for (const s of signals) s.addEventListener('abort', () => abortSignal(signal, s.reason), { once: true });
      return signal;
    }
    get [SymbolToStringTag]() {
      return 'AbortSignal';
    }
  }

  class AbortController {
    #signal = new AbortSignal(signalAbort);
    get signal() {
      return this.#signal;
    }
    abort(reason = undefined) {
      abortSignal(this.#signal, reason);
    }
    get [SymbolToStringTag]() {
      return 'AbortController';
    }
  }

  // Captured for fetch, which listens to signals the script hands it.
  const AbortSignalAbortedGet = getter(AbortSignal.prototype, 'aborted');
  const AbortSignalReasonGet = getter(AbortSignal.prototype, 'reason');
  const AbortSignalListen = uncurry(AbortSignal.prototype.addEventListener);
  const AbortSignalUnlisten = uncurry(AbortSignal.prototype.removeEventListener);
  // Whether `v` is one of our signals (a brand check, not `instanceof`).
  const isSignal = (v) => tryCall(() => (AbortSignalAbortedGet(v), true), false);

  define(globalThis, 'AbortController', AbortController);
  define(globalThis, 'AbortSignal', AbortSignal);
