// outcome: ok
// The classic vm2-style ways to a "host" global all lead back to this
// realm's own globalThis, which holds nothing of the host; names the host
// would have are ReferenceErrors. Every probe reports what it reached.
// value: {"Function('return this')()":"globalThis","({}).constructor.constructor('return this')()":"globalThis","[].constructor.constructor('return globalThis')()":"globalThis","console.log.constructor('return this')()":"globalThis","setTimeout.constructor('return this')()":"globalThis","(0, eval)('this')":"globalThis","Function('return process')()":"ReferenceError","Function('return require')()":"ReferenceError","eval('std')":"ReferenceError","Function('return os')()":"ReferenceError","(async()=>{}).constructor('return this')":"anonymous","(function*(){}).constructor('return this')().next().value":"globalThis","Object.getPrototypeOf(async function(){}).constructor":"AsyncFunction","console.constructor.constructor('return this')()":"globalThis","Error.prepareStackTrace":"undefined","new Function('return this.constructor')()":"Object"}
const probes = {
  "Function('return this')()": () => Function('return this')(),
  "({}).constructor.constructor('return this')()": () => ({}).constructor.constructor('return this')(),
  "[].constructor.constructor('return globalThis')()": () => [].constructor.constructor('return globalThis')(),
  "console.log.constructor('return this')()": () => console.log.constructor('return this')(),
  "setTimeout.constructor('return this')()": () => setTimeout.constructor('return this')(),
  "(0, eval)('this')": () => (0, eval)('this'),
  "Function('return process')()": () => Function('return process')(),
  "Function('return require')()": () => Function('return require')(),
  "eval('std')": () => eval('std'),
  "Function('return os')()": () => Function('return os')(),
  "(async()=>{}).constructor('return this')": () => (async () => {}).constructor('return this'),
  "(function*(){}).constructor('return this')().next().value": () => (function* () {}).constructor('return this')().next().value,
  "Object.getPrototypeOf(async function(){}).constructor": () => Object.getPrototypeOf(async function () {}).constructor,
  "console.constructor.constructor('return this')()": () => console.constructor.constructor('return this')(),
  'Error.prepareStackTrace': () => Error.prepareStackTrace,
  "new Function('return this.constructor')()": () => new Function('return this.constructor')(),
};
const describe = (v) => {
  if (v === globalThis) return 'globalThis';
  if (typeof v === 'function') return v.name || 'anonymous function';
  if (v === undefined) return 'undefined';
  return Object.prototype.toString.call(v);
};
const reached = {};
for (const [label, probe] of Object.entries(probes)) {
  try {
    reached[label] = describe(probe());
  } catch (e) {
    reached[label] = e.name;
  }
}
export default reached;
