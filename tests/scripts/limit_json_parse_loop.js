// outcome: timeout
// timeout_ms: 1000
// One long built-in call counts as one engine tick, so the interrupt handler
// alone would let this run for minutes: the watchdog thread ends it, with a
// timeout result, within the deadline plus its margin.
// error-name: TimeoutError
const big = '[' + '1234567890,'.repeat(400000) + '0]';
for (;;) JSON.parse(big);
