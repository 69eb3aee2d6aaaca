// The seed article's runner, as a baseline: read the job (one JSON line:
// {"code": ...}) on stdin, run the code in a vm2 VM with console captured,
// print one JSON result line, exit. One fresh runsc sandbox per run.
const { VM } = require('vm2');

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  input += chunk;
  const newline = input.indexOf('\n');
  if (newline < 0) return;
  process.stdin.pause();
  const job = JSON.parse(input.slice(0, newline));
  const logs = [];
  const vm = new VM({
    timeout: 5000,
    sandbox: { console: { log: (...a) => logs.push(a.join(' ')) } },
  });
  let result;
  try {
    result = { outcome: 'ok', value: vm.run(job.code), logs };
  } catch (e) {
    result = { outcome: 'error', error: String(e), logs };
  }
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(0));
});
