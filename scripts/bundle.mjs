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
  'manifest-worker': 'src/config/manifest-worker.js',
  'tree-removal-worker': 'src/system/tree-removal-worker.js',
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

/**
 * Fastify's server module requires node:http2, node:https and node:dns when it loads, for servers berthd makes only
 * with `api_tls` (https) or never (http2), and for listening on a host name (dns): ~30 ms and ~1.5 MiB of berthd's
 * start (issue 14). Here each is required on its first use instead.
 */
const LAZY_BUILTINS = ['https', 'http2', 'dns'];
const lazyFastifyBuiltins = {
  name: 'lazy-fastify-builtins',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]fastify[\\/]lib[\\/]server\.js$/ }, async (args) => {
      let contents = await readFile(args.path, 'utf8');
      for (const name of LAZY_BUILTINS) {
        const eager = `const ${name} = require('node:${name}')`;
        if (!contents.includes(eager))
          throw new Error(`${args.path} no longer has \`${eager}\`: update scripts/bundle.mjs`);
        contents = contents.replace(
          eager,
          `const ${name} = new Proxy({}, { get: (_, key) => require('node:${name}')[key] })`,
        );
      }
      return { contents, loader: 'js' };
    });
  },
};

/**
 * pg asks at load whether it runs in a Cloudflare Worker, by `typeof Response`: in Node 20 that global's first touch
 * loads undici, which compiles WebAssembly, and berthd's --lite-mode has none (berthd died opening a PostgreSQL store).
 * berthd runs on Node: the question is answered here.
 */
const pgOnNode = {
  name: 'pg-on-node',
  setup(b) {
    b.onLoad({ filter: /[\\/]node_modules[\\/]pg[\\/]lib[\\/]stream\.js$/ }, async (args) => {
      const contents = await readFile(args.path, 'utf8');
      const probe = 'if (isCloudflareRuntime()) {';
      if (!contents.includes(probe))
        throw new Error(`${args.path} no longer has \`${probe}\`: update scripts/bundle.mjs`);
      return { contents: contents.replace(probe, 'if (false) {'), loader: 'js' };
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
    external: [
      'better-sqlite3',
      'pg-native',
      '@node-rs/argon2',
      '@fastify/ajv-compiler',
      '@fastify/fast-json-stringify-compiler',
    ],
    // CommonJS packages (Fastify, pino) require Node's builtins: give the bundle a real require.
    banner: {
      js: "import { createRequire as __berthRequire } from 'node:module'; const require = __berthRequire(import.meta.url);",
    },
    // Smaller source to read, decode and parse; names kept for error messages and class checks.
    minify: true,
    keepNames: true,
    legalComments: 'none',
    plugins: [ownUrls, lazyFastifyBuiltins, pgOnNode],
    logLevel: 'warning',
    // Which package went into which file: test/startup-cost reads it to tell what a process loaded.
    metafile: true,
  });
  await writeFile(path.join(out, `${name}.meta.json`), JSON.stringify(metafile));
}

// `berth deploy` / `berth up`: bin/berth.js (CommonJS) requires this small one first (src/cli/deploy-fast.ts). CommonJS,
// so that such a CLI run never starts Node's ES module loader (issue 14: a deploy against a berthd that answers at once,
// 186 -> 151 ms wall on the loaded 2-core build machine, where `node -e 0` took 128). It imports nothing lazily.
const { metafile } = await build({
  entryPoints: { 'cli-deploy': path.join(dist, 'src/cli/deploy-fast.js') },
  outdir: out,
  outExtension: { '.js': '.cjs' },
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  minify: true,
  keepNames: true,
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
});
await writeFile(path.join(out, 'cli-deploy.meta.json'), JSON.stringify(metafile));
