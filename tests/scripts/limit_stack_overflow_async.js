// outcome: stack_overflow
// Unbounded recursion inside the async default export: the rejection carries
// the stack overflow, and the outcome says so.
// error: Maximum call stack size exceeded
export default async function () {
  await null;
  const f = (n) => f(n + 1) + 1;
  return f(0);
}
