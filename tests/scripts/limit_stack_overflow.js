// outcome: stack_overflow
// Unbounded recursion, uncaught.
// error-name: RangeError
// error: Maximum call stack size exceeded
// stack: at recurse (main.js:
function recurse(n) {
  return recurse(n + 1) + 1;
}
recurse(0);
