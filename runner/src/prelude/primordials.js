// The runner's prelude: the web-style globals a script expects (console,
// timers, TextEncoder/TextDecoder, URL/URLSearchParams, structuredClone),
// written in JS over a handful of narrow Rust host calls.
//
// It runs before any user code, as a function that receives the host object
// and keeps it in its closure: user code never sees `host`. Everything it
// needs from the built-ins is captured here first ("primordials"), so a script
// that later replaces JSON.stringify, Array.prototype.push or Object.keys
// cannot change how the runner formats, clones or reports. Inspecting a value
// never runs user code: getters are shown as [Getter], proxies through their
// target, and class names are read from data properties only.
(function (host) {
  'use strict';

  const ReflectApply = Reflect.apply;
  const ReflectOwnKeys = Reflect.ownKeys;
  const ReflectGetPrototypeOf = Reflect.getPrototypeOf;
  const ReflectDefineProperty = Reflect.defineProperty;
  const ObjectCreate = Object.create;
  const ObjectFreeze = Object.freeze;
  const ObjectGetOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
  const ObjectHasOwn = Object.hasOwn;
  const ObjectPrototype = Object.prototype;
  const ArrayIsArray = Array.isArray;
  const NumberIsInteger = Number.isInteger;
  const MathMin = Math.min;
  const MathTrunc = Math.trunc;
  const StringCtor = String;
  const StringFromCharCode = String.fromCharCode;
  const SymbolIterator = Symbol.iterator;
  const SymbolToStringTag = Symbol.toStringTag;
  const TypeErrorCtor = TypeError;
  const RangeErrorCtor = RangeError;
  const DOMExceptionCtor = DOMException;
  const Uint8ArrayCtor = Uint8Array;
  const ArrayBufferCtor = ArrayBuffer;
  const DataViewCtor = DataView;
  const MapCtor = Map;
  const SetCtor = Set;
  const DateCtor = Date;
  const RegExpCtor = RegExp;
  const performanceNow = performance.now.bind(performance);

  const uncurry = (fn) => (self, ...args) => ReflectApply(fn, self, args);
  const getter = (proto, name) => uncurry(ObjectGetOwnPropertyDescriptor(proto, name).get);

  const ObjectToString = uncurry(ObjectPrototype.toString);
  const FunctionToString = uncurry(Function.prototype.toString);
  const StringSlice = uncurry(String.prototype.slice);
  const StringCharCodeAt = uncurry(String.prototype.charCodeAt);
  const StringIndexOf = uncurry(String.prototype.indexOf);
  const StringToWellFormed = String.prototype.toWellFormed
    ? uncurry(String.prototype.toWellFormed)
    : (s) => s;
  const NumberToString = uncurry(Number.prototype.toString);
  const BigIntToString = uncurry(BigInt.prototype.toString);
  const SymbolToString = uncurry(Symbol.prototype.toString);
  const ErrorToString = uncurry(Error.prototype.toString);
  const DateGetTime = uncurry(Date.prototype.getTime);
  const DateToISOString = uncurry(Date.prototype.toISOString);
  const RegExpSource = getter(RegExp.prototype, 'source');
  const RegExpFlags = getter(RegExp.prototype, 'flags');
  const MapSize = getter(Map.prototype, 'size');
  const MapGet = uncurry(Map.prototype.get);
  const MapSet = uncurry(Map.prototype.set);
  const MapHas = uncurry(Map.prototype.has);
  const MapDelete = uncurry(Map.prototype.delete);
  const MapEntries = uncurry(Map.prototype.entries);
  const SetSize = getter(Set.prototype, 'size');
  const SetAdd = uncurry(Set.prototype.add);
  const SetValues = uncurry(Set.prototype.values);
  const MapIteratorNext = uncurry(ReflectGetPrototypeOf(new Map().entries()).next);
  const SetIteratorNext = uncurry(ReflectGetPrototypeOf(new Set().values()).next);
  const TypedArrayPrototype = ReflectGetPrototypeOf(Uint8Array.prototype);
  const TypedArrayTag = getter(TypedArrayPrototype, SymbolToStringTag);
  const TypedArrayLength = getter(TypedArrayPrototype, 'length');
  const TypedArrayBuffer = getter(TypedArrayPrototype, 'buffer');
  const TypedArrayByteOffset = getter(TypedArrayPrototype, 'byteOffset');
  const TypedArrayByteLength = getter(TypedArrayPrototype, 'byteLength');
  const ArrayBufferByteLength = getter(ArrayBuffer.prototype, 'byteLength');
  const ArrayBufferSlice = uncurry(ArrayBuffer.prototype.slice);
  const DataViewBuffer = getter(DataView.prototype, 'buffer');
  const DataViewByteOffset = getter(DataView.prototype, 'byteOffset');
  const DataViewByteLength = getter(DataView.prototype, 'byteLength');
  const WeakMapHas = uncurry(WeakMap.prototype.has);
  const WeakSetHas = uncurry(WeakSet.prototype.has);
  // QuickJS keeps an error's stack behind a native accessor on
  // Error.prototype, not in an own property; captured here so a script cannot
  // swap it. It runs no script code (prepareStackTrace runs at construction).
  const ErrorStackDesc = ObjectGetOwnPropertyDescriptor(Error.prototype, 'stack');
  const ErrorStack = ErrorStackDesc && typeof ErrorStackDesc.get === 'function' ? uncurry(ErrorStackDesc.get) : undefined;

  // No threads here: shared memory would only offer a way to block forever.
  delete globalThis.Atomics;
  delete globalThis.SharedArrayBuffer;

  // Descriptors have no prototype: defineProperty reads `get`, `set` and the
  // rest through the prototype chain, where a script may plant getters.
  const define = (obj, name, value) =>
    ReflectDefineProperty(obj, name, { __proto__: null, value, writable: true, configurable: true, enumerable: false });

  // Arrays built here are written by index only, with a fresh list, so a
  // setter planted on Array.prototype never sees them.
  const push = (list, value) => {
    ReflectDefineProperty(list, list.length, { __proto__: null, value, writable: true, enumerable: true, configurable: true });
  };
  const join = (list, sep) => {
    let out = '';
    for (let i = 0; i < list.length; i++) out += (i ? sep : '') + list[i];
    return out;
  };
  const concat = (a, b) => {
    const out = [];
    for (let i = 0; i < a.length; i++) push(out, a[i]);
    for (let i = 0; i < b.length; i++) push(out, b[i]);
    return out;
  };
  const asciiLower = (s) => {
    let out = '';
    for (let i = 0; i < s.length; i++) {
      const c = StringCharCodeAt(s, i);
      out += c >= 65 && c <= 90 ? StringFromCharCode(c + 32) : s[i];
    }
    return out;
  };
  // Own data property of a descriptor, never read through Object.prototype.
  const own = (obj, key) => (ObjectHasOwn(obj, key) ? obj[key] : undefined);
  const isData = (desc) => ObjectHasOwn(desc, 'value');
  const tryCall = (fn, fallback) => {
    try {
      return fn();
    } catch {
      return fallback;
    }
  };

