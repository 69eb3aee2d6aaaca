// outcome: ok
// console.log given hostile values: a Proxy whose traps all throw, a revoked
// Proxy, an object with throwing getters and toString/inspect hooks, a cycle
// through a Map, a huge sparse array, lone surrogates, an error whose
// prototype is a trapping Proxy, a Symbol.toStringTag getter on
// Object.prototype. Each logs something
// and nothing runs the script's traps or getters.
// value: {"trapsRun":0}
// log: Proxy({})
// log: [Proxy (revoked)]
// log: secret: [Getter],
// log: toString: [Function: toString],
// log: <ref> Map(1) { 'self' => [Circular] }
// log: [ <100 empty items>, ... 999999900 more items ]
// log: lone � surrogate
// log: Error: proxy in the prototype chain
let trapsRun = 0;
const trap = () => {
  trapsRun++;
  throw new Error('trap ran');
};
const traps = { get: trap, has: trap, ownKeys: trap, getOwnPropertyDescriptor: trap, getPrototypeOf: trap, apply: trap };
console.log(new Proxy({}, traps));
const { proxy, revoke } = Proxy.revocable({}, {});
revoke();
console.log(proxy);
console.log({
  get secret() {
    trapsRun++;
    throw new Error('getter ran');
  },
  toString() {
    trapsRun++;
    return 'x';
  },
  [Symbol.for('nodejs.util.inspect.custom')]: undefined,
});
const m = new Map();
m.set('self', m);
console.log('<ref>', m);
console.log(new Array(1e9));
console.log('lone \ud800 surrogate');
Object.defineProperty(Object.prototype, Symbol.toStringTag, {
  get() {
    trapsRun++;
    return 'Forged';
  },
  configurable: true,
});
const e = new Error('proxy in the prototype chain');
Object.setPrototypeOf(e, new Proxy(Error.prototype, traps));
console.log(e);
delete Object.prototype[Symbol.toStringTag];
export default { trapsRun };
