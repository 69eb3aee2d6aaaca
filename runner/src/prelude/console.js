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

