// CPU-bound and mixed: recursion, arithmetic, strings, arrays, objects.
function fib(n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}
const words = [];
for (let i = 0; i < 20000; i++) words.push('w' + (i * 7919) % 10007);
const counts = {};
for (const w of words) counts[w] = (counts[w] || 0) + 1;
const sorted = Object.keys(counts).sort();
const json = JSON.parse(JSON.stringify({ sorted, n: fib(24) }));
console.log(json.n, json.sorted.length);
