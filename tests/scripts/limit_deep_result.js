// outcome: stack_overflow
// A result nested deeper than the serialiser can recurse: a stack overflow
// while the runner serialises it, reported as such, not a crash.
// error: Maximum call stack size exceeded
let deep = [];
for (let i = 0; i < 100000; i++) deep = [deep];
export default deep;
