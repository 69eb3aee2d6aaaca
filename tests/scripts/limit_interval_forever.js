// outcome: timeout
// timeout_ms: 1000
// A zero-delay interval that is never cleared keeps the run alive until the
// deadline, and no longer.
// error-name: TimeoutError
let n = 0;
setInterval(() => {
  n++;
}, 0);
