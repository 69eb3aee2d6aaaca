// outcome: timeout
// timeout_ms: 1000
// The engine's interrupt handler ends a busy loop at the deadline.
// error-name: TimeoutError
// error: deadline of 1000 ms
// log: started
console.log('started');
while (true) {}
