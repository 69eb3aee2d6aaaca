// Bundles the module whitelist for the sandbox's rootfs: each specifier of
// modules/modules.json becomes one ES module file (its package and what it
// imports, resolved at build time by esbuild), so an import inside gVisor is
// one file open instead of one per module file (lodash-es: 640 files, about
// a second in the sandbox). Writes OUT/<name>/index.js per specifier and
// OUT/modules.json mapping each specifier to it; the runner's rules are the
// same (a bundle's directory is its root, and it has no relative imports).
//
//   node scripts/bundle-modules.mjs MODULES_DIR OUT_DIR
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

const [modulesDir, outDir] = process.argv.slice(2).map((p) => resolve(p));
if (!modulesDir || !outDir) {
  console.error('usage: node scripts/bundle-modules.mjs MODULES_DIR OUT_DIR');
  process.exit(2);
}
// esbuild is the whitelist's own dev dependency (modules/package.json).
const esbuild = createRequire(join(modulesDir, 'package.json'))('esbuild');
const map = JSON.parse(readFileSync(join(modulesDir, 'modules.json'), 'utf8'));
const bundled = {};
for (const [specifier, entry] of Object.entries(map)) {
  // One directory per specifier; the name only needs to be unique and safe.
  const dir = specifier.replace(/[^A-Za-z0-9._-]/g, '_');
  if (Object.values(bundled).includes(`${dir}/index.js`)) {
    console.error(`two specifiers bundle to ${dir}: rename one`);
    process.exit(1);
  }
  mkdirSync(join(outDir, dir), { recursive: true });
  esbuild.buildSync({
    entryPoints: [join(modulesDir, entry)],
    outfile: join(outDir, dir, 'index.js'),
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    // Smaller to parse; identifiers kept, so errors still name functions.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    logLevel: 'error',
  });
  bundled[specifier] = `${dir}/index.js`;
}
writeFileSync(join(outDir, 'modules.json'), `${JSON.stringify(bundled, null, 2)}\n`);
