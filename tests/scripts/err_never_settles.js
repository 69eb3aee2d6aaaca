// outcome: error
// A default export that waits on a promise nothing can ever resolve ends
// at once, when nothing is left to run, not at the deadline.
// error: can never settle
export default new Promise(() => {});
