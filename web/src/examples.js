// The scripts offered in the examples menu. Each is an ES module as moat runs
// it: top-level code, an optional default export whose (awaited) result is the
// run's value, and `moat:files` to save files.

const hello = `// Log something, wait a little, return a value.
console.log('hello from moat', { answer: 42, list: [1, 2, 3] });
console.warn('warnings and errors are shown in colour');

export default async function () {
  await new Promise((resolve) => setTimeout(resolve, 10));
  return { greeting: 'hello', at: new Date(0).toISOString() };
}
`;

const asyncComputation = `// Await timers and promises while computing primes in slices,
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
  console.log(\`\${name}: \${count} primes in [\${from}, \${to})\`);
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
`;

const image = `// Draws the Mandelbrot set and saves it as a PNG, encoded by hand in JS
// (zlib "stored" blocks, so no compression library is needed).
import { save } from 'moat:files';

const W = 320, H = 240;

const crcTable = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (bytes) => {
  let c = 0xffffffff;
  for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};
const u32 = (n) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
const chunk = (type, data) => {
  const body = [...type].map((ch) => ch.charCodeAt(0)).concat([...data]);
  return [...u32(data.length), ...body, ...u32(crc32(body))];
};
const zlibStored = (raw) => {
  const out = [0x78, 0x01];
  for (let i = 0; i < raw.length; i += 65535) {
    const block = raw.subarray(i, i + 65535);
    const last = i + 65535 >= raw.length ? 1 : 0;
    out.push(last, block.length & 255, block.length >> 8, ~block.length & 255, (~block.length >> 8) & 255);
    for (const x of block) out.push(x);
  }
  let a = 1, b = 0;
  for (const x of raw) { a = (a + x) % 65521; b = (b + a) % 65521; }
  return out.concat(u32(((b << 16) | a) >>> 0));
};

const pixels = new Uint8Array(H * (1 + W * 3));
for (let y = 0; y < H; y++) {
  const row = y * (1 + W * 3);
  for (let x = 0; x < W; x++) {
    let zr = 0, zi = 0, i = 0;
    const cr = (x / W) * 3.2 - 2.2, ci = (y / H) * 2.4 - 1.2;
    while (i < 64 && zr * zr + zi * zi < 4) {
      const t = zr * zr - zi * zi + cr;
      zi = 2 * zr * zi + ci;
      zr = t;
      i++;
    }
    const p = row + 1 + x * 3;
    pixels[p] = (i * 4) & 255; pixels[p + 1] = (i * 9) & 255; pixels[p + 2] = i === 64 ? 40 : 200;
  }
}
const png = new Uint8Array([
  0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a,
  ...chunk('IHDR', [...u32(W), ...u32(H), 8, 2, 0, 0, 0]),
  ...chunk('IDAT', zlibStored(pixels)),
  ...chunk('IEND', []),
]);
const file = save('mandelbrot.png', png);
console.log(\`saved \${file.name}: \${file.size} bytes\`);
save('notes.txt', 'Files that are not images are offered as downloads.\\n');
export default file;
`;

const uncaught = `// An uncaught exception ends the run with outcome "error".
function parse(config) {
  if (!config.startsWith('{')) throw new TypeError(\`not a JSON object: \${config}\`);
  return JSON.parse(config);
}

console.log('parsing the configuration...');
parse('debug = true');
`;

const memoryBomb = `// Keeps allocating until the heap limit stops it (outcome "oom").
const hoard = [];
for (let i = 0; ; i++) {
  hoard.push(new Array(100000).fill(i));
  if (i % 50 === 0) console.log(\`\${i} arrays held\`);
}
`;

const infiniteLoop = `// A deliberate infinite loop: moat stops it at the deadline (outcome "timeout").
console.log('spinning until the deadline...');
while (true) {}
`;

export const examples = [
  { id: 'hello', label: 'Hello', code: hello },
  { id: 'async', label: 'Async computation', code: asyncComputation },
  { id: 'image', label: 'Save an image', code: image },
  { id: 'error', label: 'Uncaught error', code: uncaught },
  { id: 'oom', label: 'Memory bomb', code: memoryBomb },
  { id: 'loop', label: 'Infinite loop', code: infiniteLoop },
];
