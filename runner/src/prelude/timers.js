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

