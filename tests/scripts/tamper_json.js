// outcome: ok
// The script replaces JSON.stringify and JSON.parse with functions that throw
// or lie; the runner serialises the result with its own, so it arrives
// intact, and console's %j still works.
// value: {"ok":true,"list":[1,2,3],"nested":{"s":"intact"}}
// log: {"j":1}
// log: { logged: 'fine' }
const realStringify = JSON.stringify;
JSON.stringify = () => {
  throw new Error('tampered stringify');
};
JSON.parse = () => ({ forged: true });
globalThis.JSON = { stringify: () => '"forged"', parse: () => 'forged' };
console.log('%j', { j: 1 });
console.log({ logged: 'fine' });
export default { ok: realStringify !== undefined, list: [1, 2, 3], nested: { s: 'intact' } };
