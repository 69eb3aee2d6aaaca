  // -------------------------------------------------------- text encoding

  // A view's bytes as a Uint8Array over the same memory.
  const bytesOf = (input, what) => {
    if (input === undefined) return new Uint8ArrayCtor(0);
    const tag = tryCall(() => TypedArrayTag(input), undefined);
    if (tag !== undefined) return new Uint8ArrayCtor(TypedArrayBuffer(input), TypedArrayByteOffset(input), TypedArrayByteLength(input));
    const abLen = tryCall(() => ArrayBufferByteLength(input), undefined);
    if (abLen !== undefined) return new Uint8ArrayCtor(input);
    const dvLen = tryCall(() => DataViewByteLength(input), undefined);
    if (dvLen !== undefined) return new Uint8ArrayCtor(DataViewBuffer(input), DataViewByteOffset(input), dvLen);
    throw new TypeErrorCtor(what + ' must be an ArrayBuffer, a typed array or a DataView');
  };

  class TextEncoder {
    get encoding() {
      return 'utf-8';
    }
    encode(input = '') {
      return host.utf8Encode(StringToWellFormed(StringCtor(input)));
    }
    encodeInto(input, dest) {
      const bytes = this.encode(input);
      let written = 0;
      let read = 0;
      let i = 0;
      while (i < bytes.length) {
        const b = bytes[i];
        const n = b < 0x80 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
        if (written + n > dest.length) break;
        for (let k = 0; k < n; k++) dest[written + k] = bytes[i + k];
        written += n;
        read += n === 4 ? 2 : 1;
        i += n;
      }
      return { read, written };
    }
  }

  const UTF8_LABELS = ['utf-8', 'utf8', 'unicode-1-1-utf-8', 'unicode11utf8', 'unicode20utf8', 'x-unicode20utf8'];
  class TextDecoder {
    #fatal;
    #ignoreBOM;
    constructor(label = 'utf-8', options = undefined) {
      let l = StringCtor(label);
      let known = false;
      for (let i = 0; i < UTF8_LABELS.length; i++) if (asciiLower(l) === UTF8_LABELS[i]) known = true;
      if (!known) throw new RangeErrorCtor("The '" + l + "' encoding is not supported (only utf-8 is)");
      this.#fatal = !!(options && options.fatal);
      this.#ignoreBOM = !!(options && options.ignoreBOM);
    }
    get encoding() {
      return 'utf-8';
    }
    get fatal() {
      return this.#fatal;
    }
    get ignoreBOM() {
      return this.#ignoreBOM;
    }
    decode(input = undefined) {
      return host.utf8Decode(bytesOf(input, 'The input'), this.#fatal, this.#ignoreBOM);
    }
  }
  define(globalThis, 'TextEncoder', TextEncoder);
  define(globalThis, 'TextDecoder', TextDecoder);

