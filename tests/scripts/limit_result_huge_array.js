// outcome: output_limit
// A result value over the cap built from many small parts.
// error-name: OutputLimitError
// error: bytes of JSON
// log: built
const big = Array.from({ length: 300000 }, (_, i) => i);
console.log('built', big.length);
export default function () {
  return big;
}
