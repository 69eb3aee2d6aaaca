// Builds the playground into dist/: one minified ES module bundle plus the
// page and its stylesheet, ready to be served as static files by the edge.
import { build } from 'esbuild';
import { copyFile, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
const src = join(root, 'src');
const dist = join(root, 'dist');

// The examples menu (src/examples.js) shows the repository's examples/
// files themselves: every one of them goes into the bundle by name.
const exampleDir = join(root, '..', 'examples');
const exampleFiles = (await readdir(exampleDir)).filter((name) => name.endsWith('.js'));
const examples = Object.fromEntries(await Promise.all(exampleFiles.map(async (name) =>
  [name, await readFile(join(exampleDir, name), 'utf8')])));

await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });

const result = await build({
  entryPoints: [join(src, 'playground.js')],
  outfile: join(dist, 'playground.js'),
  bundle: true,
  format: 'esm',
  minify: true,
  target: ['es2020'],
  legalComments: 'none',
  charset: 'utf8',
  logLevel: 'warning',
  metafile: true,
  define: { MOAT_EXAMPLES: JSON.stringify(examples) },
});

await Promise.all(
  ['index.html', 'playground.css'].map((name) => copyFile(join(src, name), join(dist, name))),
);

const bytes = Object.values(result.metafile.outputs).reduce((sum, o) => sum + o.bytes, 0);
console.log(`built dist/ (playground.js ${(bytes / 1024).toFixed(1)} KiB, index.html, playground.css)`);
