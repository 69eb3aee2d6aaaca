// outcome: error
// An exception thrown in a timer callback ends the run, even though the
// script's own value would otherwise have settled.
// error-name: RangeError
// error: timer boom
// stack: main.js:
// log: scheduled
setTimeout(function boom() {
  throw new RangeError('timer boom');
}, 5);
console.log('scheduled');
export default 'value';
