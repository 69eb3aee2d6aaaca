// outcome: ok
// The script poisons Array.prototype: push, join, map, slice, concat and the
// iterator throw, and index 0 has a throwing setter and a lying getter. The
// runner's own JS (console, URLSearchParams, structuredClone, moat:files) and
// the result still work.
// value: {"list":[1,2,3],"params":"b=2","clone":[4,5],"file":"ok.txt"}
// log: [ 1, 2, 3 ] Map(1) { 'k' => [ 'v' ] } Set(1) { 'x' }
// log: %o: { nested: [ 1, 2 ] }
// file-text: ok.txt [ 'still', 'fine' ]
import { save } from 'moat:files';

// Built before the tampering: the script's own Map and Set constructors
// would iterate with the poisoned iterator.
const map = new Map([['k', ['v']]]);
const set = new Set(['x']);
const poison = (name) =>
  function () {
    throw new Error('tampered Array.prototype.' + name);
  };
for (const name of ['push', 'join', 'map', 'slice', 'concat', 'forEach', 'indexOf', 'splice', 'filter', 'reduce']) {
  Array.prototype[name] = poison(name);
}
Array.prototype[Symbol.iterator] = poison('@@iterator');
Object.defineProperty(Array.prototype, '0', {
  get() {
    return 'forged';
  },
  set(v) {
    throw new Error('tampered setter on Array.prototype[0]');
  },
  configurable: true,
});

console.log([1, 2, 3], map, set);
console.log('%%o: %o', { nested: [1, 2] });
const params = new URLSearchParams('a=1&b=2');
params.delete('a');
const clone = structuredClone([4, 5]);
const info = save('ok.txt', "[ 'still', 'fine' ]");

export default { list: [1, 2, 3], params: params.toString(), clone: [clone[0], clone[1]], file: info.name };
