// outcome: oom
// memory_mb: 32
// timeout_ms: 3000
// Once the heap limit was hit, the run is over even if the script catches the
// error, frees everything and tries to return a value.
// error-name: OutOfMemoryError
let keep = [];
try {
  for (;;) keep.push(new Array(1 << 16).fill(0));
} catch (e) {
  keep = null;
}
export default 'survived';
