// outcome: error
// A real Error whose name, message and stack are replaced by throwing (or
// endless) getters, own and inherited: the result frame still arrives at once,
// with placeholders and the engine's own stack, and no getter runs.
// timeout_ms: 2000
// error-name: Error
// stack: at <anonymous> (main.js:8:
const e = new TypeError('original');
Object.defineProperty(e, 'message', {
  get() {
    throw new Error('gotcha: message');
  },
});
Object.defineProperty(e, 'name', {
  get() {
    throw new Error('gotcha: name');
  },
});
Object.defineProperty(Error.prototype, 'stack', {
  get() {
    for (;;) {}
  },
});
throw e;
