// outcome: error
// memory_mb: 32
// A string doubled by concatenation grows as a rope, without copying, until
// it reaches the engine's longest string (2^30 - 1 characters): an ordinary
// uncaught error, not a crash. A repeat past that length is a RangeError.
// error: string too long
// log: repeat: RangeError
let tooLong = 'none';
try {
  'x'.repeat(2 ** 30);
} catch (e) {
  tooLong = e.name;
}
console.log('repeat:', tooLong);
let s = 'x';
for (;;) s += s;
