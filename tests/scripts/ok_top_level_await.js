// outcome: ok
// Top-level await in the module body, then a default export computed from it.
// value: 42
const a = await new Promise((resolve) => setTimeout(() => resolve(20), 10));
const b = await Promise.resolve(22);
export default a + b;
