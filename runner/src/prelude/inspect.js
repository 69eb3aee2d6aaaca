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

