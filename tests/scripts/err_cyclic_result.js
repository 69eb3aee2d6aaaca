// outcome: error
// A cyclic value has no JSON form: the value cannot be the result.
// error: not JSON-serialisable
// error: circular
const a = { name: 'a' };
a.self = a;
export default a;
