// outcome: ok
// setInterval passes its extra arguments, and clearInterval from inside the
// callback stops it; a cleared timeout never fires; clearing unknown ids is a
// no-op; a string callback is refused rather than evaluated.
// value: {"ticks":3,"args":"a-b","clearedFired":false,"stringCallback":"TypeError","nested":["outer","inner"]}
let ticks = 0;
let args = '';
const id = setInterval(
  (a, b) => {
    ticks++;
    args = a + '-' + b;
    if (ticks === 3) clearInterval(id);
  },
  5,
  'a',
  'b',
);

let clearedFired = false;
const t = setTimeout(() => {
  clearedFired = true;
}, 10);
clearTimeout(t);
clearTimeout(undefined);
clearTimeout('nope');
clearInterval(123456);

let stringCallback = 'none';
try {
  setTimeout('globalThis.pwned = 1', 0);
} catch (e) {
  stringCallback = e.name;
}

const nested = [];
setTimeout(() => {
  nested.push('outer');
  setTimeout(() => nested.push('inner'), 1);
}, 1);

export default async function () {
  await new Promise((resolve) => setTimeout(resolve, 60));
  return { ticks, args, clearedFired, stringCallback, nested };
}
