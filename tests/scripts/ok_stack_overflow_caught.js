// outcome: ok
// A stack overflow is an ordinary RangeError to the script: caught, the run
// goes on and ends ok.
// value: {"name":"RangeError","message":"Maximum call stack size exceeded","after":3}
function forever() {
  return forever() + 1;
}
let caught;
try {
  forever();
} catch (e) {
  caught = { name: e.name, message: e.message };
}
export default { ...caught, after: [1, 2, 3].length };
