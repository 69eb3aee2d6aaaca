  // ------------------------------------------------------------- Web Crypto

  // crypto.getRandomValues, randomUUID, and the part of crypto.subtle that
  // scripts use to sign API requests: digest (SHA-1/256/384/512) and HMAC
  // keys (importKey 'raw', sign, verify, exportKey). Keys keep their bytes in
  // a private field; the host computes, in Rust.
  const bufferOf = (bytes) => ArrayBufferSlice(TypedArrayBuffer(bytes), TypedArrayByteOffset(bytes), TypedArrayByteOffset(bytes) + TypedArrayByteLength(bytes));
  const copyOf = (data, what) => new Uint8ArrayCtor(bytesOf(data, what));
  const hashName = (alg) => {
    const name = typeof alg === 'string' ? alg : alg !== null && typeof alg === 'object' ? alg.name : undefined;
    if (typeof name !== 'string') throw new TypeErrorCtor('An algorithm name is required');
    const upper = asciiLower(name) === 'sha-1' ? 'SHA-1' : asciiLower(name) === 'sha-256' ? 'SHA-256' : asciiLower(name) === 'sha-384' ? 'SHA-384' : asciiLower(name) === 'sha-512' ? 'SHA-512' : undefined;
    if (upper === undefined) throw new DOMExceptionCtor('Unrecognized algorithm name: ' + name, 'NotSupportedError');
    return upper;
  };
  const INTEGER_ARRAYS = ['Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array', 'BigInt64Array', 'BigUint64Array'];

  const keyToken = Symbol('key');
  let keyBytes; // (key) → its bytes: set by the static block
  class CryptoKey {
    #bytes;
    #algorithm;
    #extractable;
    #usages;
    static {
      keyBytes = (k) => k.#bytes;
    }
    constructor(token, bytes, algorithm, extractable, usages) {
      if (token !== keyToken) throw new TypeErrorCtor('Illegal constructor');
      this.#bytes = bytes;
      this.#algorithm = algorithm;
      this.#extractable = extractable;
      this.#usages = usages;
    }
    get type() {
      return 'secret';
    }
    get extractable() {
      return this.#extractable;
    }
    get algorithm() {
      return this.#algorithm;
    }
    get usages() {
      return this.#usages;
    }
    get [SymbolToStringTag]() {
      return 'CryptoKey';
    }
  }

  const hmacKey = (key, usage) => {
    const bytes = tryCall(() => keyBytes(key), undefined);
    if (bytes === undefined) throw new TypeErrorCtor('The key must be a CryptoKey');
    const usages = key.usages;
    let allowed = false;
    for (let i = 0; i < usages.length; i++) if (usages[i] === usage) allowed = true;
    if (!allowed) throw new DOMExceptionCtor('The key does not allow ' + usage, 'InvalidAccessError');
    return bytes;
  };
  const hmacAlg = (alg) => {
    const name = typeof alg === 'string' ? alg : alg !== null && typeof alg === 'object' ? alg.name : undefined;
    if (typeof name !== 'string' || asciiLower(name) !== 'hmac') throw new DOMExceptionCtor('Only HMAC keys are supported here', 'NotSupportedError');
  };
  // Each subtle method runs its checks and work at once and settles a
  // promise with the outcome, as the standard's async shape asks.
  const settle = (fn) => new PromiseCtor((resolve, reject) => {
    try {
      resolve(fn());
    } catch (e) {
      reject(e);
    }
  });

  const subtle = ObjectFreeze({
    __proto__: null,
    digest: (alg, data) => settle(() => bufferOf(host.digest(hashName(alg), copyOf(data, 'The data')))),
    importKey: (format, keyData, alg, extractable, usages) => settle(() => {
      if (format !== 'raw') throw new DOMExceptionCtor("Only the 'raw' key format is supported", 'NotSupportedError');
      hmacAlg(alg);
      const hash = hashName(alg.hash);
      const bytes = copyOf(keyData, 'The key data');
      const list = [];
      for (const u of usages) {
        if (u !== 'sign' && u !== 'verify') throw new SyntaxError("HMAC key usages are 'sign' and 'verify'");
        push(list, u);
      }
      const algorithm = ObjectFreeze({ name: 'HMAC', hash: ObjectFreeze({ name: hash }), length: bytes.length * 8 });
      return new CryptoKey(keyToken, bytes, algorithm, !!extractable, ObjectFreeze(list));
    }),
    exportKey: (format, key) => settle(() => {
      if (format !== 'raw') throw new DOMExceptionCtor("Only the 'raw' key format is supported", 'NotSupportedError');
      const bytes = tryCall(() => keyBytes(key), undefined);
      if (bytes === undefined) throw new TypeErrorCtor('The key must be a CryptoKey');
      if (!key.extractable) throw new DOMExceptionCtor('The key is not extractable', 'InvalidAccessError');
      return bufferOf(new Uint8ArrayCtor(bytes));
    }),
    sign: (alg, key, data) => settle(() => {
      hmacAlg(alg);
      const bytes = hmacKey(key, 'sign');
      return bufferOf(host.hmac(key.algorithm.hash.name, bytes, copyOf(data, 'The data')));
    }),
    verify: (alg, key, signature, data) => settle(() => {
      hmacAlg(alg);
      const bytes = hmacKey(key, 'verify');
      return host.hmac(key.algorithm.hash.name, bytes, copyOf(data, 'The data'), copyOf(signature, 'The signature'))[0] === 1;
    }),
  });

  const hex = '0123456789abcdef';
  const crypto = ObjectFreeze({
    __proto__: null,
    subtle,
    getRandomValues(array) {
      const tag = tryCall(() => TypedArrayTag(array), undefined);
      let integer = false;
      for (let i = 0; i < INTEGER_ARRAYS.length; i++) if (INTEGER_ARRAYS[i] === tag) integer = true;
      if (!integer) throw new DOMExceptionCtor('getRandomValues takes an integer typed array', 'TypeMismatchError');
      const n = TypedArrayByteLength(array);
      if (n > 65536) throw new DOMExceptionCtor('getRandomValues takes at most 65536 bytes', 'QuotaExceededError');
      const random = host.randomBytes(n);
      const view = new Uint8ArrayCtor(TypedArrayBuffer(array), TypedArrayByteOffset(array), n);
      for (let i = 0; i < n; i++) view[i] = random[i];
      return array;
    },
    randomUUID() {
      const b = host.randomBytes(16);
      b[6] = (b[6] & 0x0f) | 0x40;
      b[8] = (b[8] & 0x3f) | 0x80;
      let out = '';
      for (let i = 0; i < 16; i++) {
        if (i === 4 || i === 6 || i === 8 || i === 10) out += '-';
        out += hex[b[i] >> 4] + hex[b[i] & 15];
      }
      return out;
    },
  });

  define(globalThis, 'crypto', crypto);
  define(globalThis, 'CryptoKey', CryptoKey);
