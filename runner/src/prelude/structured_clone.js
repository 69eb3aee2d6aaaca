  // --------------------------------------------------------- structuredClone

  const cloneError = (what) => new DOMExceptionCtor(what + ' could not be cloned.', 'DataCloneError');

  function structuredClone(value, options = undefined) {
    if (options !== undefined && options !== null && options.transfer !== undefined) {
      const t = options.transfer;
      if (t.length) throw cloneError('Transferring');
    }
    const memory = new MapCtor();
    return cloneValue(value, memory);
  }

  function cloneValue(v, memory) {
    const t = typeof v;
    if (t === 'symbol') throw cloneError(SymbolToString(v));
    if (t === 'function') throw cloneError('function ' + (tryCall(() => own(ObjectGetOwnPropertyDescriptor(v, 'name'), 'value'), '') || '(anonymous)'));
    if (t !== 'object' || v === null) return v;
    if (MapHas(memory, v)) return MapGet(memory, v);
    if (host.proxyTarget(v) !== undefined) throw cloneError('#<Object>');

    const time = tryCall(() => DateGetTime(v), undefined);
    if (time !== undefined) return remember(memory, v, new DateCtor(time));
    const source = tryCall(() => RegExpSource(v), undefined);
    if (source !== undefined && v !== RegExpCtor.prototype) return remember(memory, v, new RegExpCtor(source, RegExpFlags(v)));
    const abLen = tryCall(() => ArrayBufferByteLength(v), undefined);
    if (abLen !== undefined) return remember(memory, v, ArrayBufferSlice(v, 0));
    const tag = tryCall(() => TypedArrayTag(v), undefined);
    if (tag !== undefined) {
      const buf = cloneValue(TypedArrayBuffer(v), memory);
      const Ctor = globalTypedArrays[tag];
      return remember(memory, v, new Ctor(buf, TypedArrayByteOffset(v), TypedArrayLength(v)));
    }
    const dvLen = tryCall(() => DataViewByteLength(v), undefined);
    if (dvLen !== undefined) {
      const buf = cloneValue(DataViewBuffer(v), memory);
      return remember(memory, v, new DataViewCtor(buf, DataViewByteOffset(v), dvLen));
    }
    const mapSize = tryCall(() => MapSize(v), undefined);
    if (mapSize !== undefined) {
      const out = remember(memory, v, new MapCtor());
      const pairs = [];
      const it = MapEntries(v);
      for (let step = MapIteratorNext(it); !step.done; step = MapIteratorNext(it)) push(pairs, step.value);
      for (let i = 0; i < pairs.length; i++) MapSet(out, cloneValue(pairs[i][0], memory), cloneValue(pairs[i][1], memory));
      return out;
    }
    const setSize = tryCall(() => SetSize(v), undefined);
    if (setSize !== undefined) {
      const out = remember(memory, v, new SetCtor());
      const items = [];
      const it = SetValues(v);
      for (let step = SetIteratorNext(it); !step.done; step = SetIteratorNext(it)) push(items, step.value);
      for (let i = 0; i < items.length; i++) SetAdd(out, cloneValue(items[i], memory));
      return out;
    }
    if (isError(v)) {
      const name = dataProp(v, 'name');
      const Ctor = ERROR_TYPES[name] || Error;
      const out = remember(memory, v, new Ctor(StringCtor(dataProp(v, 'message') ?? '')));
      const stack = errorStack(v);
      if (stack) define(out, 'stack', stack);
      return out;
    }
    if (ObjectToString(v) === '[object Boolean]' || ObjectToString(v) === '[object Number]' || ObjectToString(v) === '[object String]') {
      return remember(memory, v, Object(v.valueOf()));
    }
    const name = className(v);
    if (name === 'WeakMap' || name === 'WeakSet' || name === 'WeakRef' || name === 'Promise' || name === 'FinalizationRegistry') throw cloneError('#<' + name + '>');

    const isArr = ArrayIsArray(v);
    const out = remember(memory, v, isArr ? new Array(v.length) : {});
    const keys = ReflectOwnKeys(v);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      if (typeof key !== 'string' || (isArr && key === 'length')) continue;
      const d = ObjectGetOwnPropertyDescriptor(v, key);
      if (!d || !own(d, 'enumerable')) continue;
      ReflectDefineProperty(out, key, { __proto__: null, value: cloneValue(v[key], memory), writable: true, enumerable: true, configurable: true });
    }
    return out;
  }

  function remember(memory, from, to) {
    MapSet(memory, from, to);
    return to;
  }
  const ERROR_TYPES = ObjectCreate(null);
  for (const E of [Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError]) ERROR_TYPES[E.name] = E;
  const globalTypedArrays = ObjectCreate(null);
  for (const T of [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array]) {
    globalTypedArrays[T.name] = T;
  }
  if (typeof Float16Array === 'function') globalTypedArrays.Float16Array = Float16Array;
  define(globalThis, 'structuredClone', structuredClone);

