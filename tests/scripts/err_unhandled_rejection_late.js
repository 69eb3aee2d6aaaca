// outcome: error
// A rejection created later, inside a timer, while the default export is
// still waiting: the run ends with it at once, not at the deadline.
// error-name: TypeError
// error: late rejection
setTimeout(() => {
  Promise.reject(new TypeError('late rejection'));
}, 10);
export default async function () {
  await new Promise((resolve) => setTimeout(resolve, 60000));
  return 'unreachable';
}
