// outcome: oom
// memory_mb: 32
// timeout_ms: 3000
// Allocating without bound ends the run at the heap limit.
// error-name: OutOfMemoryError
// error: memory limit of 32 MiB
const keep = [];
for (;;) keep.push(new Array(100000).fill(1.5));
