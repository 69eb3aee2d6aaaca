// Await timers and promises while computing primes in slices,
// so several "tasks" interleave on the event loop.
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function isPrime(n) {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

async function countPrimes(name, from, to) {
  let count = 0;
  for (let start = from; start < to; start += 10000) {
    for (let n = start; n < Math.min(start + 10000, to); n++) if (isPrime(n)) count++;
    await sleep(5); // let the other tasks run
  }
  console.log(`${name}: ${count} primes in [${from}, ${to})`);
  return count;
}

console.time('primes');
const counts = await Promise.all([
  countPrimes('task A', 0, 50000),
  countPrimes('task B', 50000, 100000),
  countPrimes('task C', 100000, 150000),
]);
console.timeEnd('primes');

export default {
  counts,
  total: counts.reduce((a, b) => a + b, 0),
  slept: await sleep(20).then(() => 'and awaited at the top level'),
};
