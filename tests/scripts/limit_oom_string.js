// outcome: oom
// memory_mb: 32
// timeout_ms: 3000
// A flat string that doubles until it no longer fits. (`s += s` would not do:
// QuickJS concatenates into ropes without copying; see err_huge_string.js.)
// error-name: OutOfMemoryError
let s = 'x';
for (;;) s = s.repeat(2);
