// outcome: ok
// Microtasks run before timers; timers fire in due order, ties in creation
// order; Promise.all and Promise.race settle as in Node; the run waits for a
// still-pending timer (the race's loser) before it ends.
// value: ["sync","then","queueMicrotask","t0-a","t0-b","t10","t20","t30","all:1,2,3","fast","race:fast","slow","last"]
const order = [];
const sleep = (ms, label) =>
  new Promise((resolve) =>
    setTimeout(() => {
      order.push(label);
      resolve(label);
    }, ms),
  );

setTimeout(() => order.push('t20'), 20);
setTimeout(() => order.push('t10'), 10);
setTimeout(() => order.push('t0-a'), 0);
setTimeout(() => order.push('t0-b'));
Promise.resolve().then(() => order.push('then'));
queueMicrotask(() => order.push('queueMicrotask'));
order.push('sync');

const all = await Promise.all([1, Promise.resolve(2), sleep(30, 't30').then(() => 3)]);
order.push('all:' + all.join(','));
const first = await Promise.race([sleep(50, 'slow'), sleep(5, 'fast')]);
order.push('race:' + first);

export default async function () {
  await sleep(60, 'last');
  return order;
}
