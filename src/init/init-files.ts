import path from 'node:path';
import { httpPath } from '../import/compose-health.js';
import { importCompose } from '../import/compose-import.js';
import { processApps } from '../import/process-apps.js';
import { Checklist } from '../import/process-def.js';
import { readProcfile } from '../import/procfile-read.js';
import { shellWords } from '../import/shell-words.js';
import type { AppTree } from './app-tree.js';
import { findHealthRoute } from './init-health.js';
import type { InitPlan } from './init-plan.js';

const COMPOSE = ['compose.yaml', 'compose.yml', 'docker-compose.yml', 'docker-compose.yaml'];
const SOURCES = ['.py', '.js', '.mjs', '.cjs', '.ts', '.go', '.rb'];

/** A compose file: `berth import compose` makes the berth.yaml; its warnings are init's notes. */
export function recogniseCompose(tree: AppTree): InitPlan | null {
  const file = COMPOSE.find((f) => tree.isFile(f));
  const text = file !== undefined ? tree.read(file) : null;
  if (file === undefined || text === null) return null;
  const r = importCompose(text, { file, dir: tree.root });
  return {
    kind: 'compose',
    services: [],
    notes: [
      `${file} is there: this is \`berth import compose ${file}\`'s result`,
      ...r.warnings.map((w) => `${w.path}: ${w.message}`),
    ],
    yaml: { app: r.manifest.app, text: r.yaml, manifest: r.manifest },
  };
}

/** A Procfile: `berth import procfile`'s services (web gets the port, release becomes the release hook). */
export function recogniseProcfile(tree: AppTree): InitPlan | null {
  const text = tree.isFile('Procfile') ? tree.read('Procfile') : null;
  if (text === null) return null;
  const list = new Checklist();
  const { processes, release } = readProcfile(text, 'Procfile', list);
  const defs = processes.map((p) => ({ ...p, cwd: tree.root }));
  const [app] = processApps(defs, list, { app: 'procfile', release, workersUnlessWeb: true });
  const health = findHealthRoute(tree, SOURCES);
  const services = Object.entries(app?.services ?? {}).map(([name, fields]) => {
    const web = name === 'web';
    return {
      name,
      fields: web && health ? { ...fields, health: { http: health.path } } : fields,
      why: [
        `Procfile's ${name}: ${web ? 'the web process, given $PORT' : fields.port === 'none' ? 'a worker (port: none)' : 'it names $PORT'}`,
        ...(fields.release !== undefined ? ["Procfile's release: the release hook, once per deploy"] : []),
        ...(web && health ? [`health check ${health.path}: ${health.file} declares that route`] : []),
      ],
    };
  });
  return { kind: 'procfile', services, notes: list.items.map((i) => `${i.origin}: ${i.text}`) };
}

/** A Dockerfile: a container service built from it, listening inside on its EXPOSEd port. */
export function recogniseDockerfile(tree: AppTree): InitPlan | null {
  const text = tree.isFile('Dockerfile') ? tree.read('Dockerfile') : null;
  if (text === null) return null;
  const notes: string[] = [];
  const expose = /^\s*EXPOSE\s+(\d+)/im.exec(text)?.[1];
  const envPort = /^\s*ENV\s+PORT[=\s]+(\d+)/im.exec(text)?.[1];
  const port = Number(expose ?? envPort ?? 8080);
  if (expose === undefined)
    notes.push(
      `the Dockerfile has no EXPOSE: container_port ${port} is a guess${envPort ? ' (from ENV PORT)' : ''}; set the port the app listens on inside`,
    );
  const checked = dockerfileHealth(text, port);
  const health = checked ? { path: checked, file: "the Dockerfile's HEALTHCHECK" } : findHealthRoute(tree, SOURCES);
  return {
    kind: 'dockerfile',
    services: [
      {
        name: 'web',
        fields: {
          build: { dockerfile: 'Dockerfile' },
          container_port: port,
          ...(health ? { health: { http: health.path } } : {}),
        },
        why: [
          'a Dockerfile is there: the image is built from it at each deploy and runs as a container',
          ...(expose !== undefined ? [`container_port ${port}: the Dockerfile EXPOSEs it`] : []),
          ...(health ? [`health check ${health.path}: ${health.file} declares that route`] : []),
        ],
      },
    ],
    notes,
  };
}

/**
 * The path a Dockerfile's `HEALTHCHECK [options] CMD ...` fetches from the container itself with curl
 * or wget (exec form or shell form), as compose's healthcheck is read; else undefined.
 */
function dockerfileHealth(text: string, port: number): string | undefined {
  const cmd = /^\s*HEALTHCHECK\s+(?:--\S+\s+)*CMD\s+(.+)$/im.exec(text)?.[1]?.trim();
  if (cmd === undefined) return undefined;
  let argv: string[] | undefined;
  try {
    const parsed: unknown = cmd.startsWith('[') ? JSON.parse(cmd) : undefined;
    argv = Array.isArray(parsed) ? parsed.map(String) : shellWords(cmd);
  } catch {
    return undefined;
  }
  return argv === undefined ? undefined : httpPath(argv, port, 'localhost').path;
}

/** A directory of web files: index.html at the top, or in public/, dist/, build/, site/, _site/, www/. */
export function recogniseStatic(tree: AppTree): InitPlan | null {
  const dir = ['', 'public', 'dist', 'build', 'site', '_site', 'www', 'html'].find((d) =>
    tree.isFile(d === '' ? 'index.html' : `${d}/index.html`),
  );
  if (dir === undefined) return null;
  const notes =
    dir === ''
      ? [
          'static: . serves every file of the directory (berth.yaml too): move the site into a folder of its own if something here must stay private',
        ]
      : [];
  return {
    kind: 'static',
    services: [
      {
        name: 'web',
        fields: { static: dir === '' ? '.' : dir },
        why: [
          `${path.posix.join(dir, 'index.html')} is there and nothing to run: Berth's proxy serves the files itself`,
        ],
      },
    ],
    notes,
  };
}
