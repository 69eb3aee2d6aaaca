// outcome: ok
// A real PNG built by hand: 2x2 RGB pixels, a zlib stream of one stored
// (uncompressed) deflate block with its Adler-32, chunks with CRC-32s computed
// here. The harness checks the signature, chunk layout and every CRC.
// file: pixels.png image/png
// files: 1
// value: {"name":"pixels.png","type":"image/png","size":82}
import { save } from 'moat:files';

const CRC_TABLE = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  CRC_TABLE[n] = c >>> 0;
}
const crc32 = (bytes) => {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};
const adler32 = (bytes) => {
  let a = 1;
  let b = 0;
  for (const x of bytes) {
    a = (a + x) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
};
const u32 = (n) => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
const ascii = (s) => [...s].map((c) => c.charCodeAt(0));

function chunk(type, data) {
  const body = [...ascii(type), ...data];
  return [...u32(data.length), ...body, ...u32(crc32(body))];
}

function zlibStored(raw) {
  const len = raw.length;
  return [
    0x78, 0x01, // zlib header: deflate, 32K window, no dictionary, check bits
    0x01, // final block, stored
    len & 0xff, len >>> 8, ~len & 0xff, (~len >>> 8) & 0xff,
    ...raw,
    ...u32(adler32(raw)),
  ];
}

const width = 2;
const height = 2;
const pixels = [
  [[255, 0, 0], [0, 255, 0]],
  [[0, 0, 255], [255, 255, 255]],
];
const raw = [];
for (const row of pixels) {
  raw.push(0); // filter: none
  for (const px of row) raw.push(...px);
}

const png = new Uint8Array([
  0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a,
  ...chunk('IHDR', [...u32(width), ...u32(height), 8, 2, 0, 0, 0]),
  ...chunk('IDAT', zlibStored(raw)),
  ...chunk('IEND', []),
]);

export default save('pixels.png', png);
