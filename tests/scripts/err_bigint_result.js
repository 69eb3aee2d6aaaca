// outcome: error
// A BigInt has no JSON form: the value cannot be the result.
// error: not JSON-serialisable
// error: BigInt
export default { big: 10n };
