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

  // ---------------------------------------------------------------- inspect

  const MAX_DEPTH = 2;
  const MAX_ITEMS = 100;
  const MAX_STRING = 10000;
  const MAX_TOTAL = 1 << 20;
  const LINE_WIDTH = 72;

  const quote = (s) => {
    let out = "'";
    const n = MathMin(s.length, MAX_STRING);
    for (let i = 0; i < n; i++) {
      const c = StringCharCodeAt(s, i);
      if (c === 39) out += "\\'";
      else if (c === 92) out += '\\\\';
      else if (c === 10) out += '\\n';
      else if (c === 13) out += '\\r';
      else if (c === 9) out += '\\t';
      else if (c < 32 || c === 127) out += '\\x' + (c < 16 ? '0' : '') + NumberToString(c, 16);
      else out += s[i];
    }
    out += "'";
    if (s.length > n) out += '... ' + (s.length - n) + ' more characters';
    return out;
  };

  const isIdentifier = (s) => {
    if (s.length === 0) return false;
    for (let i = 0; i < s.length; i++) {
      const c = StringCharCodeAt(s, i);
      const letter = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 36 || c === 95;
      if (!letter && !(i > 0 && c >= 48 && c <= 57)) return false;
    }
    return true;
  };

  const formatKey = (key) => {
    if (typeof key === 'symbol') return '[' + SymbolToString(key) + ']';
    return isIdentifier(key) ? key : quote(key);
  };

  // Walking into a proxy (its prototype, its descriptors) runs its traps.
  const isProxy = (v) => host.proxyTarget(v) !== undefined;

  // The class name from a data-property `constructor.name`, never a getter.
  const className = (obj) => {
    let proto = tryCall(() => ReflectGetPrototypeOf(obj), null);
    for (let hops = 0; proto !== null && hops < 32; hops++) {
      if (isProxy(proto)) return 'Object';
      const desc = tryCall(() => ObjectGetOwnPropertyDescriptor(proto, 'constructor'), undefined);
      if (desc && isData(desc) && typeof own(desc, 'value') === 'function') {
        const n = tryCall(() => ObjectGetOwnPropertyDescriptor(own(desc, 'value'), 'name'), undefined);
        if (n && typeof own(n, 'value') === 'string' && own(n, 'value') !== '') return own(n, 'value');
      }
      proto = tryCall(() => ReflectGetPrototypeOf(proto), null);
    }
    return proto === null ? null : 'Object';
  };

  // Error.isError reads the internal slot; Object.prototype.toString would
  // run a script's Symbol.toStringTag getter.
  const ErrorIsError = Error.isError;
  const isError = (v) => (ErrorIsError ? ErrorIsError(v) : ObjectToString(v) === '[object Error]');

  const functionLabel = (fn) => {
    const n = tryCall(() => ObjectGetOwnPropertyDescriptor(fn, 'name'), undefined);
    const name = n && typeof own(n, 'value') === 'string' ? own(n, 'value') : '';
    const src = tryCall(() => FunctionToString(fn), '');
    const kind = StringIndexOf(src, 'class') === 0 ? 'class' : 'Function';
    // Node's labels: [Function: f], [Function (anonymous)], [class K], [class (anonymous)].
    return '[' + kind + (name ? (kind === 'class' ? ' ' : ': ') + name : ' (anonymous)') + ']';
  };

  function inspect(value, opts) {
    const state = { seen: [], budget: MAX_TOTAL };
    return formatValue(value, 0, state, opts && opts.depth !== undefined ? opts.depth : MAX_DEPTH);
  }

  function formatValue(v, depth, state, maxDepth) {
    if (state.budget <= 0) return '…';
    const out = formatInner(v, depth, state, maxDepth);
    state.budget -= out.length;
    return out;
  }

  function formatPrimitive(v) {
    switch (typeof v) {
      case 'string':
        return quote(v);
      case 'number':
        return v === 0 && 1 / v < 0 ? '-0' : NumberToString(v);
      case 'bigint':
        return BigIntToString(v) + 'n';
      case 'boolean':
        return v ? 'true' : 'false';
      case 'undefined':
        return 'undefined';
      case 'symbol':
        return SymbolToString(v);
      default:
        return v === null ? 'null' : undefined;
    }
  }

  function formatInner(v, depth, state, maxDepth) {
    const prim = formatPrimitive(v);
    if (prim !== undefined) return prim;

    const target = host.proxyTarget(v);
    if (target !== undefined) {
      if (target === null) return '[Proxy (revoked)]';
      return 'Proxy(' + formatValue(target, depth, state, maxDepth) + ')';
    }

    for (let i = 0; i < state.seen.length; i++) if (state.seen[i] === v) return '[Circular]';

    if (typeof v === 'function') {
      const label = functionLabel(v);
      const keys = ownEntries(v, depth, state, maxDepth, false);
      return keys === null ? label : keys.length ? label + ' ' + wrap('{', keys, '}', depth) : label;
    }

    const tag = tryCall(() => TypedArrayTag(v), undefined);
    if (tag !== undefined) return formatTypedArray(v, tag, depth, state, maxDepth);

    if (isError(v)) return formatError(v);

    const time = tryCall(() => DateGetTime(v), undefined);
    if (time !== undefined) {
      return time === time ? DateToISOString(v) : 'Invalid Date';
    }
    const source = tryCall(() => RegExpSource(v), undefined);
    if (source !== undefined && v !== RegExpCtor.prototype) return '/' + source + '/' + RegExpFlags(v);

    const abLen = tryCall(() => ArrayBufferByteLength(v), undefined);
    if (abLen !== undefined) {
      const bytes = new Uint8ArrayCtor(v, 0, MathMin(abLen, MAX_ITEMS / 2));
      let hex = '';
      for (let i = 0; i < bytes.length; i++) hex += (i ? ' ' : '') + (bytes[i] < 16 ? '0' : '') + NumberToString(bytes[i], 16);
      if (abLen > bytes.length) hex += ' ... ' + (abLen - bytes.length) + ' more bytes';
      return 'ArrayBuffer { [Uint8Contents]: <' + hex + '>, byteLength: ' + abLen + ' }';
    }

    if (tryCall(() => WeakMapHas(v, ObjectPrototype) || true, false)) return 'WeakMap { <items unknown> }';
    if (tryCall(() => WeakSetHas(v, ObjectPrototype) || true, false)) return 'WeakSet { <items unknown> }';

    const name = className(v);
    const isArr = ArrayIsArray(v);
    const mapSize = tryCall(() => MapSize(v), undefined);
    const setSize = mapSize === undefined ? tryCall(() => SetSize(v), undefined) : undefined;
    const isPromise = name === 'Promise';

    if (depth > maxDepth) {
      if (isArr) return '[Array]';
      return '[' + (name === null ? 'Object: null prototype' : name) + ']';
    }

    push(state.seen, v);
    let items = [];
    let open = '{';
    let close = '}';
    let prefix = '';
    if (isArr) {
      open = '[';
      close = ']';
      const len = v.length;
      const shown = MathMin(len, MAX_ITEMS);
      let holes = 0;
      for (let i = 0; i < shown; i++) {
        const desc = ObjectGetOwnPropertyDescriptor(v, StringCtor(i));
        if (desc === undefined) {
          holes++;
          continue;
        }
        if (holes) {
          push(items, '<' + holes + ' empty item' + (holes > 1 ? 's' : '') + '>');
          holes = 0;
        }
        push(items, formatProperty(desc, depth, state, maxDepth));
      }
      if (holes) push(items, '<' + holes + ' empty item' + (holes > 1 ? 's' : '') + '>');
      if (len > shown) push(items, '... ' + (len - shown) + ' more item' + (len - shown > 1 ? 's' : ''));
      if (name !== 'Array') prefix = (name === null ? '[Array: null prototype]' : name + '(' + len + ')') + ' ';
    } else if (mapSize !== undefined) {
      prefix = (name || 'Map') + '(' + mapSize + ') ';
      const it = MapEntries(v);
      for (let i = 0; i < MAX_ITEMS; i++) {
        const step = MapIteratorNext(it);
        if (step.done) break;
        push(items, formatValue(step.value[0], depth + 1, state, maxDepth) + ' => ' + formatValue(step.value[1], depth + 1, state, maxDepth));
      }
      if (mapSize > MAX_ITEMS) push(items, '... ' + (mapSize - MAX_ITEMS) + ' more items');
    } else if (setSize !== undefined) {
      prefix = (name || 'Set') + '(' + setSize + ') ';
      const it = SetValues(v);
      for (let i = 0; i < MAX_ITEMS; i++) {
        const step = SetIteratorNext(it);
        if (step.done) break;
        push(items, formatValue(step.value, depth + 1, state, maxDepth));
      }
      if (setSize > MAX_ITEMS) push(items, '... ' + (setSize - MAX_ITEMS) + ' more items');
    } else if (isPromise) {
      prefix = 'Promise ';
    } else if (name === null) {
      prefix = '[Object: null prototype] ';
    } else if (name !== 'Object') {
      prefix = name + ' ';
    }
    const own = ownEntries(v, depth, state, maxDepth, isArr);
    if (own !== null) for (let i = 0; i < own.length; i++) push(items, own[i]);
    state.seen.length -= 1;
    if (items.length === 0) return prefix + open + close;
    return prefix + wrap(open, items, close, depth);
  }

  function formatProperty(desc, depth, state, maxDepth) {
    if (isData(desc)) return formatValue(own(desc, 'value'), depth + 1, state, maxDepth);
    if (own(desc, 'get') && own(desc, 'set')) return '[Getter/Setter]';
    return own(desc, 'get') ? '[Getter]' : '[Setter]';
  }

  // Own enumerable properties (and symbols), skipping array indices; `null`
  // when the object will not list them.
  function ownEntries(v, depth, state, maxDepth, skipIndices) {
    const keys = tryCall(() => ReflectOwnKeys(v), null);
    if (keys === null) return null;
    const items = [];
    let shown = 0;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      if (skipIndices && typeof key === 'string' && (key === 'length' || isIndex(key))) continue;
      const desc = tryCall(() => ObjectGetOwnPropertyDescriptor(v, key), undefined);
      if (desc === undefined || !own(desc, 'enumerable')) continue;
      if (shown++ >= MAX_ITEMS) {
        push(items, '... more properties');
        break;
      }
      push(items, formatKey(key) + ': ' + formatProperty(desc, depth, state, maxDepth));
    }
    return items;
  }

  function isIndex(key) {
    if (key.length === 0 || key.length > 10) return false;
    for (let i = 0; i < key.length; i++) {
      const c = StringCharCodeAt(key, i);
      if (c < 48 || c > 57) return false;
    }
    return key === '0' || StringCharCodeAt(key, 0) !== 48;
  }

  function wrap(open, items, close, depth) {
    let total = 0;
    let multiline = false;
    for (let i = 0; i < items.length; i++) {
      total += items[i].length + 2;
      if (StringIndexOf(items[i], '\n') !== -1) multiline = true;
    }
    if (!multiline && total + open.length <= LINE_WIDTH) return open + ' ' + join(items, ', ') + ' ' + close;
    let pad = '';
    for (let i = 0; i <= depth; i++) pad += '  ';
    return open + '\n' + pad + join(items, ',\n' + pad) + '\n' + StringSlice(pad, 2) + close;
  }

  function formatTypedArray(v, tag, depth, state, maxDepth) {
    const len = TypedArrayLength(v);
    const shown = MathMin(len, MAX_ITEMS);
    const items = [];
    for (let i = 0; i < shown; i++) push(items, formatPrimitive(v[i]) || '?');
    if (len > shown) push(items, '... ' + (len - shown) + ' more items');
    return tag + '(' + len + ') ' + (items.length ? wrap('[', items, ']', depth) : '[]');
  }

  // An error's stack: an own data property if the script set one (an own
  // accessor is the script's code, so it is not called), else the engine's.
  function errorStack(e) {
    const d = tryCall(() => ObjectGetOwnPropertyDescriptor(e, 'stack'), undefined);
    if (d !== undefined) return isData(d) && typeof own(d, 'value') === 'string' ? own(d, 'value') : '';
    const s = ErrorStack === undefined ? '' : tryCall(() => ErrorStack(e), '');
    return typeof s === 'string' ? s : '';
  }

  function formatError(e) {
    const head = tryCall(() => {
      const n = dataProp(e, 'name');
      const m = dataProp(e, 'message');
      return (typeof n === 'string' ? n : 'Error') + (typeof m === 'string' && m !== '' ? ': ' + m : '');
    }, 'Error');
    const stack = errorStack(e);
    return stack ? head + '\n' + trimEnd(stack) : head;
  }

  // A property's value if it is a data property somewhere on the chain.
  function dataProp(obj, key) {
    let o = obj;
    for (let hops = 0; o !== null && hops < 32; hops++) {
      if (isProxy(o)) return undefined;
      const d = ObjectGetOwnPropertyDescriptor(o, key);
      if (d) return own(d, 'value');
      o = ReflectGetPrototypeOf(o);
    }
    return undefined;
  }

  function trimEnd(s) {
    let end = s.length;
    while (end > 0 && (StringCharCodeAt(s, end - 1) === 10 || StringCharCodeAt(s, end - 1) === 32)) end--;
    return StringSlice(s, 0, end);
  }

  // ---------------------------------------------------------------- console

  // Node's format: printf-style directives in a leading string, the rest
  // inspected (strings as they are) and joined with spaces.
  function format(args) {
    let out = '';
    let start = 0;
    if (typeof args[0] === 'string' && args.length > 1) {
      const f = args[0];
      let next = 1;
      let i = 0;
      let last = 0;
      out = '';
      while (i < f.length - 1) {
        if (StringCharCodeAt(f, i) === 37) {
          const d = f[i + 1];
          let rep;
          if (d === '%') {
            out += StringSlice(f, last, i) + '%';
            i += 2;
            last = i;
            continue;
          }
          if (next < args.length) {
            const a = args[next];
            if (d === 's') rep = typeof a === 'string' ? a : typeof a === 'bigint' ? BigIntToString(a) + 'n' : inspect(a, { depth: 1 });
            else if (d === 'd' || d === 'i') rep = typeof a === 'bigint' ? BigIntToString(a) + 'n' : typeof a === 'symbol' ? 'NaN' : formatPrimitive(d === 'i' ? MathTrunc(+a) : +a);
            else if (d === 'f') rep = typeof a === 'symbol' ? 'NaN' : formatPrimitive(+a);
            else if (d === 'j') rep = tryCall(() => JSONStringify(a), '[Circular]');
            else if (d === 'o' || d === 'O') rep = inspect(a, { depth: d === 'o' ? 4 : MAX_DEPTH });
            else if (d === 'c') rep = '';
          }
          if (rep !== undefined) {
            out += StringSlice(f, last, i) + rep;
            next++;
            i += 2;
            last = i;
            continue;
          }
        }
        i++;
      }
      out += StringSlice(f, last);
      start = next;
    } else if (args.length > 0) {
      out = typeof args[0] === 'string' ? args[0] : inspect(args[0]);
      start = 1;
    }
    for (let i = start; i < args.length; i++) {
      const a = args[i];
      out += ' ' + (typeof a === 'string' ? a : inspect(a));
    }
    return out;
  }
  const JSONStringify = JSON.stringify;

  let groupIndent = '';
  const emit = (level, args) => {
    let text = format(args);
    if (groupIndent) {
      let indented = groupIndent;
      for (let i = 0; i < text.length; i++) indented += text[i] === '\n' ? '\n' + groupIndent : text[i];
      text = indented;
    }
    host.log(level, StringToWellFormed(text));
  };

  const counts = new MapCtor();
  const timers = new MapCtor();
  const console = ObjectCreate(ObjectPrototype);
  const method = (name, fn) => define(console, name, fn);
  method('log', (...args) => emit('info', args));
  method('info', (...args) => emit('info', args));
  method('debug', (...args) => emit('debug', args));
  method('warn', (...args) => emit('warn', args));
  method('error', (...args) => emit('error', args));
  method('trace', (...args) => {
    // The first frame is this function; Node's trace starts at its caller.
    const s = errorStack(new Error());
    const nl = StringIndexOf(s, '\n');
    const stack = nl === -1 ? '' : '\n' + trimEnd(StringSlice(s, nl + 1));
    emit('error', ['Trace: ' + format(args) + stack]);
  });
  method('dir', (v) => emit('info', [inspect(v)]));
  method('assert', (ok, ...args) => {
    if (!ok) emit('error', args.length ? concat(['Assertion failed:'], args) : ['Assertion failed']);
  });
  method('count', (label = 'default') => {
    const key = StringCtor(label);
    const n = (MapGet(counts, key) || 0) + 1;
    MapSet(counts, key, n);
    emit('info', [key + ': ' + n]);
  });
  method('countReset', (label = 'default') => MapSet(counts, StringCtor(label), 0));
  method('time', (label = 'default') => MapSet(timers, StringCtor(label), performanceNow()));
  const elapsed = (label, extra, end) => {
    const key = StringCtor(label);
    if (!MapHas(timers, key)) return emit('warn', ["No such label '" + key + "' for console.time" + (end ? 'End()' : 'Log()')]);
    const ms = performanceNow() - MapGet(timers, key);
    if (end) MapDelete(timers, key);
    emit('info', concat([key + ': ' + NumberToString(MathTrunc(ms * 1000) / 1000) + 'ms'], extra));
  };
  method('timeLog', (label = 'default', ...extra) => elapsed(label, extra, false));
  method('timeEnd', (label = 'default') => elapsed(label, [], true));
  method('group', (...args) => {
    if (args.length) emit('info', args);
    groupIndent += '  ';
  });
  method('groupEnd', () => {
    groupIndent = StringSlice(groupIndent, 2);
  });
  define(globalThis, 'console', console);

  // ----------------------------------------------------------------- timers

  const timerFn = (repeat) => (callback, delay, ...args) => {
    if (typeof callback !== 'function') throw new TypeErrorCtor('the callback must be a function (strings are not evaluated)');
    const ms = +delay;
    return host.setTimer(() => ReflectApply(callback, undefined, args), ms === ms ? ms : 0, repeat);
  };
  const clear = (id) => {
    if (typeof id === 'number') host.clearTimer(id);
  };
  define(globalThis, 'setTimeout', timerFn(false));
  define(globalThis, 'setInterval', timerFn(true));
  define(globalThis, 'clearTimeout', clear);
  define(globalThis, 'clearInterval', clear);

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

  // ------------------------------------------------------------------ URLs

  // URL parts, in the order the host returns them.
  const HREF = 0, ORIGIN = 1, PROTOCOL = 2, USERNAME = 3, PASSWORD = 4, HOST = 5, HOSTNAME = 6, PORT = 7, PATHNAME = 8, SEARCH = 9, HASH = 10;
  const searchParamsUpdate = Symbol('update');

  class URLSearchParams {
    #list = [];
    #url = null;
    constructor(init = undefined) {
      if (init === undefined || init === null) return;
      if (typeof init === 'object' || typeof init === 'function') {
        const iter = init[SymbolIterator];
        if (iter !== undefined) {
          for (const pair of { [SymbolIterator]: () => ReflectApply(iter, init, []) }) {
            const p = [...pair];
            if (p.length !== 2) throw new TypeErrorCtor('each pair must have exactly two items');
            push(this.#list, [StringToWellFormed(StringCtor(p[0])), StringToWellFormed(StringCtor(p[1]))]);
          }
          return;
        }
        const keys = ReflectOwnKeys(init);
        for (let i = 0; i < keys.length; i++) {
          const d = ObjectGetOwnPropertyDescriptor(init, keys[i]);
          if (typeof keys[i] === 'string' && d && own(d, 'enumerable')) push(this.#list, [StringToWellFormed(keys[i]), StringToWellFormed(StringCtor(init[keys[i]]))]);
        }
        return;
      }
      this.#parse(StringCtor(init));
    }
    #parse(s) {
      if (s[0] === '?') s = StringSlice(s, 1);
      const flat = host.formParse(StringToWellFormed(s));
      this.#list = [];
      for (let i = 0; i + 1 < flat.length; i += 2) push(this.#list, [flat[i], flat[i + 1]]);
    }
    #update() {
      if (this.#url) this.#url[searchParamsUpdate](this.toString());
    }
    static [searchParamsUpdate](params, url, query) {
      params.#url = url;
      params.#parse(query);
    }
    get size() {
      return this.#list.length;
    }
    append(name, value) {
      push(this.#list, [StringToWellFormed(StringCtor(name)), StringToWellFormed(StringCtor(value))]);
      this.#update();
    }
    delete(name, value = undefined) {
      name = StringCtor(name);
      const kept = [];
      for (let i = 0; i < this.#list.length; i++) {
        // Indexed, not destructured: destructuring runs Array.prototype's iterator.
        const k = this.#list[i][0];
        const v = this.#list[i][1];
        if (k !== name || (value !== undefined && v !== StringCtor(value))) push(kept, this.#list[i]);
      }
      this.#list = kept;
      this.#update();
    }
    get(name) {
      name = StringCtor(name);
      for (let i = 0; i < this.#list.length; i++) if (this.#list[i][0] === name) return this.#list[i][1];
      return null;
    }
    getAll(name) {
      name = StringCtor(name);
      const out = [];
      for (let i = 0; i < this.#list.length; i++) if (this.#list[i][0] === name) push(out, this.#list[i][1]);
      return out;
    }
    has(name, value = undefined) {
      name = StringCtor(name);
      for (let i = 0; i < this.#list.length; i++) {
        if (this.#list[i][0] === name && (value === undefined || this.#list[i][1] === StringCtor(value))) return true;
      }
      return false;
    }
    set(name, value) {
      name = StringToWellFormed(StringCtor(name));
      value = StringToWellFormed(StringCtor(value));
      const kept = [];
      let done = false;
      for (let i = 0; i < this.#list.length; i++) {
        if (this.#list[i][0] !== name) push(kept, this.#list[i]);
        else if (!done) {
          push(kept, [name, value]);
          done = true;
        }
      }
      if (!done) push(kept, [name, value]);
      this.#list = kept;
      this.#update();
    }
    sort() {
      // Stable insertion sort by UTF-16 code units, as the standard asks.
      const l = this.#list;
      for (let i = 1; i < l.length; i++) {
        const cur = l[i];
        let j = i - 1;
        while (j >= 0 && l[j][0] > cur[0]) {
          l[j + 1] = l[j];
          j--;
        }
        l[j + 1] = cur;
      }
      this.#update();
    }
    forEach(callback, thisArg = undefined) {
      for (let i = 0; i < this.#list.length; i++) ReflectApply(callback, thisArg, [this.#list[i][1], this.#list[i][0], this]);
    }
    *entries() {
      for (let i = 0; i < this.#list.length; i++) yield [this.#list[i][0], this.#list[i][1]];
    }
    *keys() {
      for (let i = 0; i < this.#list.length; i++) yield this.#list[i][0];
    }
    *values() {
      for (let i = 0; i < this.#list.length; i++) yield this.#list[i][1];
    }
    [SymbolIterator]() {
      return this.entries();
    }
    toString() {
      const flat = [];
      for (let i = 0; i < this.#list.length; i++) {
        push(flat, this.#list[i][0]);
        push(flat, this.#list[i][1]);
      }
      return host.formSerialize(flat);
    }
  }

  class URL {
    #parts;
    #params;
    constructor(input, base = undefined) {
      const parts = host.urlParse(StringToWellFormed(StringCtor(input)), base === undefined ? undefined : StringToWellFormed(StringCtor(base)));
      // The host answers `undefined` (Rust's None) for an invalid URL.
      if (parts === undefined) throw new TypeErrorCtor('Invalid URL: ' + StringCtor(input));
      this.#parts = parts;
      this.#params = new URLSearchParams();
      URLSearchParams[searchParamsUpdate](this.#params, this, parts[SEARCH]);
    }
    static canParse(input, base = undefined) {
      return host.urlParse(StringCtor(input), base === undefined ? undefined : StringCtor(base)) !== undefined;
    }
    static parse(input, base = undefined) {
      try {
        return new URL(input, base);
      } catch {
        return null;
      }
    }
    #set(part, value) {
      this.#parts = host.urlSet(this.#parts[HREF], part, StringToWellFormed(StringCtor(value)));
      if (part === 'href' || part === 'search') URLSearchParams[searchParamsUpdate](this.#params, this, this.#parts[SEARCH]);
    }
    [searchParamsUpdate](query) {
      this.#parts = host.urlSet(this.#parts[HREF], 'search', query);
    }
    get href() { return this.#parts[HREF]; }
    set href(v) {
      if (host.urlParse(StringCtor(v), undefined) === undefined) throw new TypeErrorCtor('Invalid URL: ' + StringCtor(v));
      this.#set('href', v);
    }
    get origin() { return this.#parts[ORIGIN]; }
    get protocol() { return this.#parts[PROTOCOL]; }
    set protocol(v) { this.#set('protocol', v); }
    get username() { return this.#parts[USERNAME]; }
    set username(v) { this.#set('username', v); }
    get password() { return this.#parts[PASSWORD]; }
    set password(v) { this.#set('password', v); }
    get host() { return this.#parts[HOST]; }
    set host(v) { this.#set('host', v); }
    get hostname() { return this.#parts[HOSTNAME]; }
    set hostname(v) { this.#set('hostname', v); }
    get port() { return this.#parts[PORT]; }
    set port(v) { this.#set('port', v); }
    get pathname() { return this.#parts[PATHNAME]; }
    set pathname(v) { this.#set('pathname', v); }
    get search() { return this.#parts[SEARCH]; }
    set search(v) { this.#set('search', v); }
    get hash() { return this.#parts[HASH]; }
    set hash(v) { this.#set('hash', v); }
    get searchParams() { return this.#params; }
    toString() { return this.#parts[HREF]; }
    toJSON() { return this.#parts[HREF]; }
  }
  define(globalThis, 'URL', URL);
  define(globalThis, 'URLSearchParams', URLSearchParams);

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

  // ------------------------------------------------------------- moat:files

  const EXTENSION_TYPES = ObjectCreate(null);
  EXTENSION_TYPES.png = 'image/png';
  EXTENSION_TYPES.jpg = 'image/jpeg';
  EXTENSION_TYPES.jpeg = 'image/jpeg';
  EXTENSION_TYPES.gif = 'image/gif';
  EXTENSION_TYPES.svg = 'image/svg+xml';
  EXTENSION_TYPES.json = 'application/json';
  EXTENSION_TYPES.txt = 'text/plain';
  EXTENSION_TYPES.csv = 'text/csv';
  EXTENSION_TYPES.html = 'text/html';
  EXTENSION_TYPES.md = 'text/markdown';

  const typeFor = (name) => {
    let dot = -1;
    for (let i = name.length - 1; i >= 0; i--) if (name[i] === '.') { dot = i; break; }
    const ext = dot === -1 ? '' : asciiLower(StringSlice(name, dot + 1));
    return EXTENSION_TYPES[ext] || 'application/octet-stream';
  };

  // save(name, data, { type }) → { name, type, size }: data is a string
  // (saved as UTF-8) or binary (ArrayBuffer, typed array, DataView).
  function save(name, data, options = undefined) {
    if (typeof name !== 'string') throw new TypeErrorCtor('the file name must be a string');
    let type = options === undefined || options === null ? undefined : options.type;
    const isText = typeof data === 'string';
    type = type === undefined ? typeFor(name) + (isText && typeFor(name) !== 'application/octet-stream' && StringIndexOf(typeFor(name), 'text/') === 0 ? '; charset=utf-8' : '') : StringCtor(type);
    const bytes = isText ? host.utf8Encode(StringToWellFormed(data)) : bytesOf(data, 'The file data');
    host.saveFile(name, bytes, type);
    return ObjectFreeze({ name, type, size: bytes.length });
  }

  // What the result frame says about a thrown Error: [name, message, stack],
  // from data properties and the engine's stack only (null where there is
  // none), so no getter of the script's runs while the run is ending.
  function describeError(e) {
    const n = tryCall(() => dataProp(e, 'name'), undefined);
    const m = tryCall(() => dataProp(e, 'message'), undefined);
    return [typeof n === 'string' ? n : null, typeof m === 'string' ? m : null, errorStack(e)];
  }

  return { inspect, save, describeError };
})
