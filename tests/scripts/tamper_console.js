// outcome: ok
// The script breaks its own console (methods replaced, the global deleted)
// and Symbol.toPrimitive/toString on prototypes; a thrown-and-caught error
// still formats, and the result arrives. Only the log before the tampering is
// sent, as the replaced methods log nothing.
// value: {"done":true}
// log: before tampering
// logs: 1
console.log('before tampering');
const original = console.log;
console.log = () => {
  throw new Error('tampered console.log');
};
console.error = null;
delete globalThis.console;
Object.prototype[Symbol.toPrimitive] = () => {
  throw new Error('tampered toPrimitive');
};
Error.prototype.toString = () => {
  throw new Error('tampered Error.prototype.toString');
};
try {
  throw new Error('caught');
} catch {}
export default { done: typeof original === 'function' };
