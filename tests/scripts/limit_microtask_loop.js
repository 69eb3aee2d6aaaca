// outcome: timeout
// timeout_ms: 1000
// An endless chain of microtasks never yields to timers; the deadline holds.
// error-name: TimeoutError
export default async function () {
  for (;;) await null;
}
