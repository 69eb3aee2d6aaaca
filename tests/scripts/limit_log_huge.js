// outcome: output_limit
// One log line larger than the whole log budget (1 MiB): refused, the run
// stops, and the line before it is kept.
// error-name: OutputLimitError
// logs: 1
// log: before the flood
console.log('before the flood');
console.log('x'.repeat(2 * 1024 * 1024));
console.log('after the flood');
export default 'unreachable';
