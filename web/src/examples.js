// The examples menu: the repository's own `examples/*.js`, the same files
// `moat run` and the README use, put into the bundle by build.mjs (as the
// MOAT_EXAMPLES constant), so there is one copy of each.

/* global MOAT_EXAMPLES */
const menu = [
  { id: 'hello', label: 'Hello', file: 'hello.js' },
  { id: 'async', label: 'Async computation', file: 'async.js' },
  { id: 'image', label: 'Save an image', file: 'image.js' },
  { id: 'monitor', label: 'Check an HTTP API', file: 'monitor.js' },
  { id: 'browser', label: 'Screenshot a page (Puppeteer)', file: 'screenshot.js' },
  { id: 'error', label: 'Uncaught error', file: 'error.js' },
  { id: 'oom', label: 'Memory bomb', file: 'oom.js' },
  { id: 'loop', label: 'Infinite loop', file: 'loop.js' },
];

export const examples = menu.map(({ id, label, file }) => {
  const code = MOAT_EXAMPLES[file];
  if (typeof code !== 'string') throw new Error(`examples/${file} was not bundled`);
  return { id, label, code };
});

