// outcome: oom
// memory_mb: 32
// timeout_ms: 3000
// Catching the out-of-memory error (which may be null: no room for an Error),
// freeing, and allocating again does not get the script past the limit. The
// engine itself stops it (the watchdog would have said timeout), long before
// the deadline even though each round copies megabytes.
// error-name: OutOfMemoryError
// no-log: survived 1000
let caught = 0;
for (;;) {
  const keep = [];
  try {
    for (;;) keep.push('x'.repeat(1 << 20) + caught);
  } catch (e) {
    caught++;
  }
  keep.length = 0;
  if (caught > 5) console.log('survived', caught);
}
