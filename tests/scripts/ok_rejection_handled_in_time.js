// outcome: ok
// A rejection that gets a handler before the microtask queue drains is not
// unhandled (as in Node); one awaited inside try/catch is not either.
// value: ["late handler: first","caught: second"]
const seen = [];
const p = Promise.reject(new Error('first'));
await null;
p.catch((e) => seen.push('late handler: ' + e.message));
try {
  await Promise.reject(new Error('second'));
} catch (e) {
  seen.push('caught: ' + e.message);
}
export default seen;
