// outcome: ok
// A script without a default export ends ok with no value; its logs arrive.
// value: none
// log: only logs here
// logs: 1
export const notDefault = 1;
console.log('only logs here');
