// outcome: timeout
// timeout_ms: 1000
// Catastrophic backtracking inside one regex call is stopped at the deadline.
// error-name: TimeoutError
/(a+)+$/.test('a'.repeat(40) + 'b');
export default 'unreachable';
