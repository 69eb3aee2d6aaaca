// outcome: ok
// A default export that is a plain function: called, and its return value is
// the run's value (undefined properties dropped, as JSON.stringify does).
// value: {"sum":6,"nested":{"list":[1,"two",null,true]},"unicode":"héllo ✓"}
export default function () {
  return {
    sum: [1, 2, 3].reduce((a, b) => a + b, 0),
    nested: { list: [1, 'two', null, true] },
    skipped: undefined,
    unicode: 'héllo ✓',
  };
}
