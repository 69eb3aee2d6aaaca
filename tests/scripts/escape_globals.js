// outcome: ok
// Nothing of the host is a global: no process, require, QuickJS std/os,
// Deno, Bun, sockets, workers, print, or shared memory; import.meta is
// empty; `this` at module level is undefined. `fetch` (with Request,
// Response, Headers) is web-style: a host call the egress service answers.
// value: {"present":[],"importMeta":[],"moduleThis":"undefined","globalsAreWebStyle":true}
const HOST_NAMES = [
  'process', 'require', 'module', 'exports', '__filename', '__dirname', 'Buffer', 'global',
  'std', 'os', 'scriptArgs', 'print', 'bjson', 'Deno', 'Bun', 'XMLHttpRequest',
  'WebSocket', 'EventSource', 'Worker', 'importScripts',
  'navigator', 'location', 'document', 'window', 'self', 'setImmediate', 'gc', 'load',
  'loadScript', 'readline', 'Atomics', 'SharedArrayBuffer', 'WebAssembly', 'host', 'moat',
];
const present = HOST_NAMES.filter((name) => typeof globalThis[name] !== 'undefined' || name in globalThis);
const WEB = ['console', 'setTimeout', 'setInterval', 'clearTimeout', 'clearInterval', 'queueMicrotask',
  'TextEncoder', 'TextDecoder', 'URL', 'URLSearchParams', 'structuredClone', 'atob', 'btoa', 'performance',
  'fetch', 'Request', 'Response', 'Headers', 'AbortController', 'AbortSignal', 'crypto'];
export default {
  present,
  importMeta: Reflect.ownKeys(import.meta).map(String),
  moduleThis: typeof this,
  globalsAreWebStyle: WEB.every((name) => typeof globalThis[name] !== 'undefined'),
};
