// outcome: ok
// modules: fixture
// A whitelisted package with relative imports inside it (static, and a
// dynamic one resolved against the package's own module); a dynamic import
// of the same specifier gives the same module instance.
// value: {"greeting":"HELLO, MOAT!","version":"1.0.0","lazy":"loaded lazily","same":true}
import greet, { VERSION } from 'greet';
import * as ns from 'greet';

const again = await import('greet');

export default async function () {
  return {
    greeting: greet('moat'),
    version: VERSION,
    lazy: await ns.lazy(),
    same: again.greet === greet && again.default === ns.default,
  };
}
