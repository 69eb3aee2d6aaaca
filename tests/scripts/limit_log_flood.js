// outcome: output_limit
// timeout_ms: 2000
// A million log lines: the frame cap (10000) stops the run; every line before
// the cap arrives, none after.
// error-name: OutputLimitError
// logs: 10000
// log: line 0
// log: line 9999
// no-log: line 10000
for (let i = 0; i < 1000000; i++) console.log('line', i);
export default 'unreachable';
