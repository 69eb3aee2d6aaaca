// outcome: error
// A thrown Proxy whose every trap throws: reported without running a trap.
// error-name: Uncaught
// error: Proxy(
const trap = () => {
  throw new Error('trap ran');
};
throw new Proxy(new Error('inside'), {
  get: trap,
  has: trap,
  ownKeys: trap,
  getOwnPropertyDescriptor: trap,
  getPrototypeOf: trap,
});
