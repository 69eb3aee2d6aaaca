// outcome: ok
// Recursion that is deep but legitimate fits under the stack limit.
// value: 5000
function depth(n) {
  return n === 0 ? 0 : 1 + depth(n - 1);
}
export default depth(5000);
