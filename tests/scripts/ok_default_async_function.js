// outcome: ok
// An async default export that awaits timers and promises.
// value: {"waited":true,"values":[1,2,3]}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export default async function main() {
  await sleep(10);
  const values = await Promise.all([1, 2, 3].map(async (n) => {
    await sleep(n);
    return n;
  }));
  return { waited: true, values };
}
