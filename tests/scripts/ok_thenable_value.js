// outcome: ok
// A default export that is a thenable (not a Promise) is adopted like
// `await` would: its then is called and what it resolves with is the value.
// value: {"from":"thenable"}
export default {
  then(resolve) {
    setTimeout(() => resolve({ from: 'thenable' }), 5);
  },
};
