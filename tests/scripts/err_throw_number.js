// outcome: error
// A thrown value that is not an Error is reported by its inspection.
// error-name: Uncaught
// error: 42
throw 42;
