// A small whitelisted package whose files import each other relatively.
import { shout } from './lib/strings.js';

export const VERSION = '1.0.0';

export function greet(name) {
  return shout('hello, ' + name);
}

// A dynamic relative import, resolved against this module, not the script.
export async function lazy() {
  const mod = await import('./lib/lazy.js');
  return mod.default();
}

export default greet;
