// outcome: ok
// The script replaces Promise.prototype.then (with a function that never
// calls back), Promise.resolve and the global Promise. `await` does not look
// these up, so the async default export still settles, and the runner must
// not depend on them either to read its value.
// value: {"awaited":[1,2],"still":"intact"}
const NativePromise = Promise;
const sleep = (ms) => new NativePromise((resolve) => setTimeout(resolve, ms));
const pending = [sleep(5).then(() => 1), NativePromise.resolve(2)];

NativePromise.prototype.then = function () {
  return this;
};
NativePromise.prototype.catch = function () {
  return this;
};
NativePromise.prototype.finally = function () {
  return this;
};
NativePromise.resolve = () => new NativePromise(() => {});
globalThis.Promise = function Forged() {};

export default async function () {
  const a = await pending[0];
  const b = await pending[1];
  await sleep(5);
  return { awaited: [a, b], still: 'intact' };
}
