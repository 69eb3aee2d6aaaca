// outcome: timeout
// timeout_ms: 1000
// A toJSON that never returns: serialising the result is under the deadline
// like everything else.
// error-name: TimeoutError
export default {
  toJSON() {
    for (;;) {}
  },
};
