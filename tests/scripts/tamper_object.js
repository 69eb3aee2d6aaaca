// outcome: ok
// The script replaces Object and Reflect helpers, Function.prototype's
// call/apply/bind, Object.prototype.toString and hasOwnProperty, and plants
// getters on Object.prototype for names the runner reads from errors and
// descriptors. Console formatting, cloning and the result are unaffected.
// value: {"intact":{"a":1,"b":[true,null]},"cloned":"yes"}
// log: { a: 1, b: [ true, null ] } TypeError: still formatted
// log: Map(1) { 'm' => 1 }
const boom = (what) => () => {
  throw new Error('tampered ' + what);
};
for (const name of ['keys', 'values', 'entries', 'defineProperty', 'getOwnPropertyDescriptor', 'getPrototypeOf', 'hasOwn', 'freeze', 'create']) {
  Object[name] = boom('Object.' + name);
}
for (const name of ['apply', 'ownKeys', 'defineProperty', 'getPrototypeOf']) {
  Reflect[name] = boom('Reflect.' + name);
}
Function.prototype.call = boom('call');
Function.prototype.apply = boom('apply');
Function.prototype.bind = boom('bind');
Object.prototype.toString = () => '[object Forged]';
Object.prototype.hasOwnProperty = boom('hasOwnProperty');
for (const name of ['get', 'set', 'value', 'writable', 'enumerable', 'configurable', 'stack', 'done']) {
  globalThis.Object.prototype.__defineGetter__(name, boom('getter ' + name));
}

console.log({ a: 1, b: [true, null] }, new TypeError('still formatted'));
console.log(new Map([['m', 1]]));
const cloned = structuredClone({ deep: { x: 1 } }).deep.x === 1 ? 'yes' : 'no';

export default { intact: { a: 1, b: [true, null] }, cloned };
