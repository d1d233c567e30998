import path from 'node:path';
import { Document, isMap, isScalar } from 'yaml';
import { BerthError } from '../core/errors.js';
import { nameProblem } from '../core/names.js';
import { interpolateTree } from './compose-interpolate.js';
import { mapDependsOn, type Mapped } from './compose-depends.js';
import { routePublished, type RouteComments } from './compose-publish.js';
import { parseCompose, readVariables } from './compose-read.js';
import { mapService } from './compose-service.js';
import type { VolumeNames } from './compose-volumes.js';
import { berthName } from './import-names.js';
import { at, isMapping, Warnings, type ImportWarning } from './import-warnings.js';

export interface ComposeImport {
  /** The berth.yaml as data: `{ app, services }`. */
  readonly manifest: { readonly app: string; readonly services: Record<string, Record<string, unknown>> };
  /** The berth.yaml text, with a header naming its source. */
  readonly yaml: string;
  /** Everything that was not mapped, or mapped with a change, in the order met. */
  readonly warnings: readonly ImportWarning[];
}

/** The order keys are printed in, within a service. */
const ORDER = [
  ...['image', 'build', 'container_port', 'port', 'run', 'entrypoint', 'env', 'volumes', 'depends_on'],
  ...['routes', 'health', 'restart', 'stop_timeout', 'instances'],
];

const TOP_WHY: Readonly<Record<string, string>> = {
  version: 'obsolete in compose itself; nothing to map',
  networks: 'each app environment has a network of its own, where its services reach each other by service name',
  secrets: 'Berth gives secrets as environment variables: berth secrets set <app> NAME',
  configs: 'put the files in the image or in the source it is built from',
  include: 'import each included compose file on its own',
};

/**
 * Maps a compose file to a berth.yaml. `file` names it in messages; env files are read from
 * `dir` (the compose file's directory) only. `app` is the app's name; by default compose's
 * `name:`, else the directory's name, made a valid name if needed.
 */
export function importCompose(text: string, opts: { file: string; dir: string; app?: string }): ComposeImport {
  if (opts.app !== undefined && nameProblem(opts.app) !== undefined)
    throw new BerthError('invalid', 'invalid_name', `--app ${JSON.stringify(opts.app)} ${nameProblem(opts.app)}`, {
      hint: 'names are DNS labels: 1-63 characters of a-z, 0-9 and "-", starting and ending with a letter or digit',
    });
  const raw = parseCompose(text, opts.file);
  const warn = new Warnings();
  const app = opts.app ?? appName(raw.name, opts.dir, warn);
  const vars = readVariables(opts.dir, warn);
  topLevel(raw, warn);
  const services = raw.services as Record<string, unknown>;
  const mapped = new Map<string, Mapped>();
  const volumes: VolumeNames = new Map();
  const taken = new Set<string>();
  for (const [compose, def] of Object.entries(services)) {
    const p = at('services', compose);
    const { name, problem } = berthName(compose, taken);
    taken.add(name);
    if (problem !== undefined)
      warn.add(
        p,
        `service name ${JSON.stringify(compose)} ${problem}: it is ${JSON.stringify(name)} here (a DNS label)`,
      );
    if (!isMapping(def)) {
      warn.notMapped(p, 'expected a mapping');
      continue;
    }
    const svc = interpolateTree(def, vars, p, warn) as Record<string, unknown>;
    const ctx = { compose, name, path: p, dir: opts.dir, vars, app, warn };
    mapped.set(compose, { ctx, svc, ...mapService(svc, ctx, volumes) });
  }
  for (const one of mapped.values()) mapDependsOn(mapped, one);
  const comments = routePublished(mapped.values(), app, warn);
  const out: Record<string, Record<string, unknown>> = {};
  for (const { ctx, out: s } of mapped.values()) out[ctx.name] = ordered(s);
  const manifest = { app, services: out };
  const yaml = render(manifest, comments, path.basename(opts.file), warn.list.length);
  return { manifest, yaml, warnings: warn.list };
}

function appName(name: unknown, dir: string, warn: Warnings): string {
  const from = typeof name === 'string' && name !== '' ? name : path.basename(dir);
  const { name: app, problem } = berthName(from, new Set(), 'app');
  if (problem !== undefined)
    warn.add(
      typeof name === 'string' ? 'name' : '(app)',
      `app name ${JSON.stringify(from)} ${problem}: it is ${JSON.stringify(app)} here; choose another with --app`,
    );
  return app;
}

function topLevel(raw: Record<string, unknown>, warn: Warnings): void {
  for (const [key, value] of Object.entries(raw)) {
    if (key === 'services' || key === 'name') continue;
    if (key === 'volumes' && isMapping(value)) {
      for (const [vol, def] of Object.entries(value))
        if (isMapping(def))
          for (const k of Object.keys(def))
            warn.notMapped(
              at(at('volumes', vol), k),
              'a volume is a directory under $DATA_DIR, with no driver or options',
            );
    } else if (key.startsWith('x-')) warn.notMapped(key, 'an extension field (its anchors were applied where used)');
    else warn.notMapped(key, TOP_WHY[key] ?? 'not a compose key Berth knows');
  }
}

function ordered(s: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of [...ORDER, ...Object.keys(s)]) if (s[key] !== undefined) out[key] = s[key];
  return out;
}

function render(manifest: object, comments: RouteComments, source: string, warnings: number): string {
  const doc = new Document(manifest);
  const services = doc.get('services');
  if (isMap(services))
    for (const pair of services.items) {
      const comment = isScalar(pair.key) ? comments.get(String(pair.key.value)) : undefined;
      const routes = isMap(pair.value)
        ? pair.value.items.find((p) => isScalar(p.key) && p.key.value === 'routes')
        : null;
      if (comment !== undefined && routes && isScalar(routes.key)) routes.key.commentBefore = comment;
    }
  doc.commentBefore =
    ` berth.yaml made by \`berth import compose\` from ${source}.\n` +
    (warnings === 0
      ? ' Everything was mapped.'
      : ` ${warnings} thing${warnings === 1 ? ' was' : 's were'} not mapped or changed: see the warnings it printed.`);
  return doc.toString({ lineWidth: 0 });
}
