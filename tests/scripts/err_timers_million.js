// outcome: error
// A million pending timers: the runner caps them at 100000 and throws a
// RangeError, which ends the run here because nothing catches it.
// error-name: RangeError
// error: too many pending timers (the limit is 100000)
for (let i = 0; i < 1000000; i++) setTimeout(() => {}, 60000);
