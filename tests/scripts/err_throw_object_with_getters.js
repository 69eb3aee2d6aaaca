// outcome: error
// A thrown plain object whose `message`, `name` and `stack` are throwing
// getters. The runner shows it without calling them.
// error-name: Uncaught
// error: code: 'E_HOSTILE'
// error: message: [Getter]
throw {
  code: 'E_HOSTILE',
  get message() {
    throw new Error('gotcha: message');
  },
  get name() {
    throw new Error('gotcha: name');
  },
  get stack() {
    for (;;) {}
  },
};
