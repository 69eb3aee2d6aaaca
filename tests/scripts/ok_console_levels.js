// outcome: ok
// Each console method logs at its level; trace carries a stack; assert,
// count, time and group behave as in Node.
// log-level: info from log
// log-level: info from info
// log-level: debug from debug
// log-level: warn from warn
// log-level: error from error
// log-level: error Trace: from trace
// log: at traced (main.js:
// log-level: error Assertion failed: from assert
// log: tally: 2
// log: timer: 
// log: grouped
// log:     nested
// log: { dir: true }
// no-log: should not assert
function traced() {
  console.trace('from trace');
}
console.log('from log');
console.info('from info');
console.debug('from debug');
console.warn('from warn');
console.error('from error');
traced();
console.assert(false, 'from assert');
console.assert(true, 'should not assert');
console.count('tally');
console.count('tally');
console.time('timer');
console.timeEnd('timer');
console.group('grouped');
console.group();
console.log('nested');
console.groupEnd();
console.groupEnd();
console.dir({ dir: true });
