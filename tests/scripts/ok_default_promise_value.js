// outcome: ok
// A default export that is a promise (not a function) is awaited.
// value: ["a","b"]
export default new Promise((resolve) => setTimeout(() => resolve(['a', 'b']), 5));
