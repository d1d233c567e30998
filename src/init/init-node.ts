import type { AppTree } from './app-tree.js';
import { findHealthRoute, sourcesMention } from './init-health.js';
import type { InitPlan, PlannedService } from './init-plan.js';

const JS = ['.js', '.mjs', '.cjs', '.ts', '.mts', '.jsx', '.tsx'];
/** A start script that is one plain `node <file>` command: run as it is, without npm in between. */
const PLAIN_NODE = /^node\s+[\w./@-]+(?:\s+[\w./=@-]+)*$/;
/** A start script that runs a dev server, not the app: a static build is served instead. */
const DEV_SERVER = /^(vite|react-scripts start|vite preview)\b/;

interface PackageJson {
  name?: unknown;
  main?: unknown;
  scripts?: Record<string, unknown>;
  dependencies?: Record<string, unknown>;
  devDependencies?: Record<string, unknown>;
}

/**
 * A Node app (package.json): Next.js (`next start`, or its static export), a Vite or Create React
 * App front end without a server of its own (a static service with SPA fallback, from its build
 * output), or a server (`start` script, else `main`, else server.js/index.js/app.js).
 */
export function recogniseNode(tree: AppTree): InitPlan | null {
  const text = tree.read('package.json');
  if (text === null) return null;
  let pkg: PackageJson;
  try {
    pkg = JSON.parse(text) as PackageJson;
  } catch {
    return { kind: 'node', services: [], notes: ['package.json is not valid JSON: fix it, then run berth init again'] };
  }
  const scripts = Object.fromEntries(
    Object.entries(pkg.scripts ?? {}).filter((e): e is [string, string] => typeof e[1] === 'string'),
  );
  const deps = { ...(pkg.dependencies ?? {}), ...(pkg.devDependencies ?? {}) };
  const notes: string[] = [];
  const build = [...install(tree, Object.keys(deps).length, notes)];
  if (scripts.build !== undefined) build.push('npm run build');
  // Without a build script, `next start` would find no build: init runs `next build` itself.
  else if ('next' in deps) build.push('node_modules/.bin/next build');
  const withBuild = (f: Record<string, unknown>) =>
    build.length > 0 ? { build: build.length === 1 ? build[0] : build, ...f } : f;
  const name =
    typeof pkg.name === 'string' && pkg.name !== ''
      ? { raw: pkg.name.replace(/^@[^/]+\//, ''), from: 'package.json' }
      : undefined;
  const plan = (kind: string, svc: PlannedService): InitPlan => ({
    kind,
    services: [svc],
    notes,
    ...(name ? { name } : {}),
  });

  if ('next' in deps) {
    const config = ['next.config.js', 'next.config.mjs', 'next.config.ts'].map((f) => tree.read(f) ?? '').join('\n');
    if (/output\s*:\s*["']export["']/.test(config))
      return plan('next-export', {
        name: 'web',
        fields: withBuild({ static: 'out' }),
        why: ["Next.js with output: 'export' in next.config: `next build` writes static pages to out/"],
      });
    const route = nextHealthRoute(tree);
    return plan('next', {
      name: 'web',
      fields: withBuild({
        run: 'node_modules/.bin/next start --hostname 127.0.0.1 --port $PORT',
        ...(route ? { health: { http: route.path } } : health(tree)),
      }),
      why: [
        `next is a dependency: built with \`${scripts.build !== undefined ? 'npm run build' : 'next build'}\`, served by \`next start\` on $PORT`,
        ...(route ? [`health check ${route.path}: ${route.file} is that route`] : healthWhy(tree)),
      ],
    });
  }
  const front = 'vite' in deps ? 'vite' : 'react-scripts' in deps ? 'react-scripts' : null;
  if (
    front !== null &&
    scripts.build !== undefined &&
    (scripts.start === undefined || DEV_SERVER.test(scripts.start))
  ) {
    const out = front === 'vite' ? viteOutDir(tree) : 'build';
    return plan(front === 'vite' ? 'vite' : 'cra', {
      name: 'web',
      fields: withBuild({ static: out, spa: true }),
      why: [
        `${front === 'vite' ? 'Vite' : 'Create React App'} with a build script and no server of its own: Berth's proxy serves ${out}/ after \`npm run build\`; spa: true answers unknown paths with index.html (client-side routing)`,
      ],
    });
  }
  const run = startCommand(tree, pkg, scripts);
  if (run === null) return null;
  if (!sourcesMention(tree, JS, /process\.env\.PORT|process\.env\[["']PORT["']\]/))
    notes.push(
      'no process.env.PORT in its source: Berth gives the app its port as $PORT; make it listen there (on 127.0.0.1)',
    );
  return plan('node', {
    name: 'web',
    fields: withBuild({ run: run.command, ...health(tree) }),
    why: [run.why, ...healthWhy(tree)],
  });

  function health(t: AppTree): Record<string, unknown> {
    const h = findHealthRoute(t, JS);
    return h ? { health: { http: h.path } } : {};
  }
  function healthWhy(t: AppTree): string[] {
    const h = findHealthRoute(t, JS);
    return h ? [`health check ${h.path}: ${h.file} declares that route`] : [];
  }
}

function startCommand(
  tree: AppTree,
  pkg: PackageJson,
  scripts: Record<string, string>,
): { command: string; why: string } | null {
  const start = scripts.start;
  if (start !== undefined && PLAIN_NODE.test(start.trim()))
    return {
      command: start.trim(),
      why: `the start script is \`${start.trim()}\`: run as it is, without npm in between`,
    };
  if (start !== undefined) return { command: 'npm start', why: `the start script (\`${start}\`) runs with npm start` };
  if (typeof pkg.main === 'string' && tree.isFile(pkg.main))
    return { command: `node ${pkg.main}`, why: `no start script; package.json's main is ${pkg.main}` };
  for (const f of ['server.js', 'index.js', 'app.js', 'main.js', 'server.mjs', 'index.mjs'])
    if (tree.isFile(f)) return { command: `node ${f}`, why: `no start script or main; ${f} is there` };
  return null;
}

/** The install step for a lockfile; none without dependencies. */
function install(tree: AppTree, deps: number, notes: string[]): string[] {
  if (deps === 0) return [];
  if (tree.isFile('package-lock.json') || tree.isFile('npm-shrinkwrap.json')) return ['npm ci'];
  if (tree.isFile('pnpm-lock.yaml')) return ['pnpm install --frozen-lockfile'];
  if (tree.isFile('yarn.lock')) return ['yarn install --frozen-lockfile'];
  notes.push(
    'no lockfile (package-lock.json): each build runs npm install, which may pick newer versions; commit a lockfile and use npm ci',
  );
  return ['npm install'];
}

function viteOutDir(tree: AppTree): string {
  const config = ['vite.config.js', 'vite.config.ts', 'vite.config.mjs'].map((f) => tree.read(f) ?? '').join('\n');
  return /outDir\s*:\s*["']([\w./-]+)["']/.exec(config)?.[1]?.replace(/^\.\//, '') ?? 'dist';
}

/** A Next.js route file for a health path: app/api/health/route.ts, pages/api/healthz.js, ... (in src/ too). */
function nextHealthRoute(tree: AppTree): { path: string; file: string } | null {
  for (const name of ['healthz', 'health'])
    for (const base of ['', 'src/'])
      for (const ext of ['ts', 'js', 'mjs', 'tsx', 'jsx']) {
        const candidates = [`${base}app/api/${name}/route.${ext}`, `${base}pages/api/${name}.${ext}`];
        const file = candidates.find((f) => tree.isFile(f));
        if (file !== undefined) return { path: `/api/${name}`, file };
      }
  return null;
}
