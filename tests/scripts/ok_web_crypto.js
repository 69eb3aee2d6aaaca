// outcome: ok
// Web Crypto as scripts use it to sign API requests: digests (FIPS 180
// "abc" vectors), HMAC keys (RFC 4231 test case 2) that sign and verify,
// random values and UUIDs, and the standard's errors.
// value: {"sha1":"a9993e364706816aba3e25717850c26c9cd0d89d","sha256":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","sha512":"ddaf35a193617aba","hmac":"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843","verified":[true,false],"key":["secret","HMAC","SHA-256",32,false],"exportRefused":"InvalidAccessError","uuid":true,"distinct":true,"random":true,"quota":"QuotaExceededError","float":"TypeMismatchError","md5":"NotSupportedError"}
const enc = new TextEncoder();
const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');
const name = async (f) => { try { await f(); return 'none'; } catch (e) { return e.name; } };

const key = await crypto.subtle.importKey('raw', enc.encode('Jefe'), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
const data = enc.encode('what do ya want for nothing?');
const sig = await crypto.subtle.sign('HMAC', key, data);
const a = crypto.randomUUID();
const bytes = crypto.getRandomValues(new Uint8Array(32));

export default {
  sha1: hex(await crypto.subtle.digest('SHA-1', enc.encode('abc'))),
  sha256: hex(await crypto.subtle.digest({ name: 'SHA-256' }, enc.encode('abc'))),
  sha512: hex(await crypto.subtle.digest('SHA-512', enc.encode('abc'))).slice(0, 16),
  hmac: hex(sig),
  verified: [
    await crypto.subtle.verify('HMAC', key, sig, data),
    await crypto.subtle.verify('HMAC', key, sig, enc.encode('something else')),
  ],
  key: [key.type, key.algorithm.name, key.algorithm.hash.name, key.algorithm.length, key.extractable],
  exportRefused: await name(() => crypto.subtle.exportKey('raw', key)),
  uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(a),
  distinct: a !== crypto.randomUUID(),
  random: bytes.some((b) => b !== 0),
  quota: await name(() => crypto.getRandomValues(new Uint8Array(65537))),
  float: await name(() => crypto.getRandomValues(new Float32Array(4))),
  md5: await name(() => crypto.subtle.digest('MD5', enc.encode('abc'))),
};
