// outcome: ok
// TextEncoder/TextDecoder round trips (BMP, astral, lone surrogates),
// encodeInto, fatal decoding, BOM handling, views and buffers as input.
// value: {"bytes":[104,195,169,108,108,111,32,240,159,140,141],"roundTrip":true,"lone":[239,191,189],"into":{"read":2,"written":3},"intoBytes":[97,195,169,0],"lossy":"a\ufffdb","fatal":"TypeError","bom":"x","keepBom":"\ufeffx","fromBuffer":"hi","fromView":"i","encoding":"utf-8","badLabel":"RangeError"}
const enc = new TextEncoder();
const dec = new TextDecoder();
const bytes = enc.encode('héllo 🌍');
const into = new Uint8Array(4);
const intoResult = enc.encodeInto('aé🌍', into);

let fatal = 'none';
try {
  new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array([0xff]));
} catch (e) {
  fatal = e.name;
}
let badLabel = 'none';
try {
  new TextDecoder('latin2');
} catch (e) {
  badLabel = e.name;
}
const hi = enc.encode('hi');

export default {
  bytes: [...bytes],
  roundTrip: dec.decode(bytes) === 'héllo 🌍',
  lone: [...enc.encode('\ud800')],
  into: { read: intoResult.read, written: intoResult.written },
  intoBytes: [...into],
  lossy: dec.decode(new Uint8Array([0x61, 0xff, 0x62])),
  fatal,
  bom: dec.decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x78])),
  keepBom: new TextDecoder('utf-8', { ignoreBOM: true }).decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x78])),
  fromBuffer: dec.decode(hi.buffer),
  fromView: dec.decode(new DataView(hi.buffer, 1, 1)),
  encoding: dec.encoding,
  badLabel,
};
