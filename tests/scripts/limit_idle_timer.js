// outcome: timeout
// timeout_ms: 1000
// An idle wait is bounded by the deadline too: a pending minute-long timer
// ends the run at the deadline, not after a minute.
// error-name: TimeoutError
// log: waiting
console.log('waiting');
export default async function () {
  await new Promise((resolve) => setTimeout(resolve, 60000));
  return 'unreachable';
}
