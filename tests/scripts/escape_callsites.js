// outcome: ok
// V8-style call sites (Error.prepareStackTrace) expose the functions on the
// stack. Collected while the runner's own JS (console formatting, structured
// clone, URL, timers) is calling back into the script, none of them, and no
// property of them, is a host call: the host object lives only in the
// prelude's closure, never in a frame's arguments or a function's properties.
// value: {"sawRunnerFrames":true,"hostReached":[],"callbackResults":["valueOf","toString","getter","timer"]}
const HOST_CALLS = ['log', 'saveFile', 'utf8Encode', 'utf8Decode', 'urlParse', 'urlSet', 'formParse', 'formSerialize', 'setTimer', 'clearTimer', 'proxyTarget'];
const functions = new Set();
const callbackResults = [];
let sawRunnerFrames = false;

function collect(tag) {
  const saved = Error.prepareStackTrace;
  Error.prepareStackTrace = (_, sites) => sites;
  const sites = new Error().stack;
  Error.prepareStackTrace = saved;
  if (Array.isArray(sites)) {
    for (const site of sites) {
      if (!String(site.getFileName?.()).includes('main.js')) sawRunnerFrames = true;
      const fn = site.getFunction?.();
      if (typeof fn === 'function') functions.add(fn);
    }
  }
  callbackResults.push(tag);
}

console.log('%d', { valueOf() { collect('valueOf'); return 1; } });
new URL({ toString() { collect('toString'); return 'http://h/'; } });
structuredClone({ get g() { collect('getter'); return 1; } });
await new Promise((resolve) => setTimeout(() => { collect('timer'); resolve(); }, 0));

const hostReached = [];
for (const fn of functions) {
  for (const key of Reflect.ownKeys(fn)) {
    let value;
    try {
      value = fn[key];
    } catch {
      continue;
    }
    if (value && typeof value === 'object' && HOST_CALLS.some((name) => Object.hasOwn(value, name))) {
      hostReached.push(String(key));
    }
  }
}
export default { sawRunnerFrames, hostReached, callbackResults };
