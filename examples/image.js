// Draws the Mandelbrot set and saves it as a PNG, encoded by hand in JS
// (zlib "stored" blocks, so no compression library is needed).
import { save } from 'moat:files';

const W = 160, H = 120;

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
    out.push(last, block.length & 255, block.length >> 8, ~block.length & 255, (~block.length >> 8) & 255, ...block);
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
    while (i < 64 && zr * zr + zi * zi < 4) { [zr, zi] = [zr * zr - zi * zi + cr, 2 * zr * zi + ci]; i++; }
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
console.log(`saved ${file.name}: ${file.size} bytes`);
export default file;
