// outcome: output_limit
// A result value over the result cap (1 MiB of JSON).
// error-name: OutputLimitError
// error: over the limit of 1048576
export default 'x'.repeat(2 * 1024 * 1024);
