// Part of `npm run build`, after tsc: bundles berthd, its worker threads and the CLI with esbuild into dist/bundle/,
// one file per entry (plus the chunks of what each imports lazily) instead of ~800 modules (Kysely alone is 264
// files), which Node's ESM loader resolves, reads and links one by one: berthd's start took ~1.1 s of CPU that way,
// ~0.7 s bundled (bench/startup). Everything else (the tests, the proxy's processes) uses the modules under dist/src.
import { build } from 'esbuild';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const dist = path.join(root, 'dist');
const out = path.join(dist, 'bundle');

// What is bundled: berthd, the CLI, and the worker threads berthd starts (each an entry of its own).
const ENTRIES = {
  berthd: 'src/daemon/main.js',
  cli: 'src/cli/main.js',
  // `berth deploy` / `berth up`: bin/berth.js tries this small one first (src/cli/deploy-fast.ts).
  'cli-deploy': 'src/cli/deploy-fast.js',
  'manifest-worker': 'src/config/manifest-worker.js',
};
const WORKERS = new Map(Object.entries(ENTRIES).map(([name, file]) => [path.join(dist, file), `./${name}.js`]));

/**
 * In a bundle, import.meta.url would name the bundle; each module's own still names its file under dist/src,
 * so what a module finds beside itself (native helpers, ui/, the proxy's scripts) is where it was, except a
 * worker thread that is bundled too: `new URL('./x-worker.js', import.meta.url)` names that bundle.
 */
const ownUrls = {
  name: 'own-urls',
  setup(b) {
    b.onLoad({ filter: /[\\/]dist[\\/]src[\\/].*\.js$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      const rel = JSON.stringify(path.relative(out, args.path).split(path.sep).join('/'));
      const contents = text
        .replaceAll('import.meta.url', '__ownUrl')
        .replace(/new URL\('(\.\.?\/[^']+)', __ownUrl\)/g, (all, to) => {
          const worker = WORKERS.get(path.resolve(path.dirname(args.path), to));
          return worker ? `new URL('${worker}', import.meta.url)` : all;
        });
      return { contents: `const __ownUrl = new URL(${rel}, import.meta.url).href;\n${contents}`, loader: 'js' };
    });
  },
};

await rm(out, { recursive: true, force: true });
// One build per entry: chunks shared by the CLI and berthd would make the CLI load berthd's code.
for (const [name, entry] of Object.entries(ENTRIES)) {
  const { metafile } = await build({
    entryPoints: { [name]: path.join(dist, entry) },
    outdir: out,
    chunkNames: `${name}-[name]-[hash]`,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // Native addons stay in node_modules (they find their .node files from there).
    // Fastify's schema compilers load on a route's first call (src/api/lazy-compilers.ts): left out, they cost nothing at start.
    external: ['better-sqlite3', '@node-rs/argon2', '@fastify/ajv-compiler', '@fastify/fast-json-stringify-compiler'],
    // CommonJS packages (Fastify, pino) require Node's builtins: give the bundle a real require.
    banner: {
      js: "import { createRequire as __berthRequire } from 'node:module'; const require = __berthRequire(import.meta.url);",
    },
    // Smaller source to read, decode and parse; names kept for error messages and class checks.
    minify: true,
    keepNames: true,
    legalComments: 'none',
    plugins: [ownUrls],
    logLevel: 'warning',
    // Which package went into which file: test/startup-cost reads it to tell what a process loaded.
    metafile: true,
  });
  await writeFile(path.join(out, `${name}.meta.json`), JSON.stringify(metafile));
}
