// outcome: ok
// With no host to answer (stdin closed after the job), fetch rejects with a
// TypeError whose cause carries a code, and the run still ends normally.
// value: {"name":"TypeError","code":"EGRESS_UNAVAILABLE","aborted":"AbortError"}
let error;
try {
  await fetch('http://127.0.0.1:9/');
} catch (e) {
  error = e;
}
let aborted;
try {
  await fetch('http://127.0.0.1:9/', { signal: AbortSignal.abort() });
} catch (e) {
  aborted = e.name;
}
export default { name: error.name, code: error.cause.code, aborted };
