import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Document, isMap, isScalar, parse as parseYaml, parseDocument, type Pair } from 'yaml';
import { BerthError } from '../core/errors.js';
import { nameProblem } from '../core/names.js';
import { checkImported } from './import-check.js';
import { readIfPresent, readLocalFile } from './local-file.js';
import { parseCaddyfile } from './caddy-conf.js';
import { caddyRoutes } from './caddy-routes.js';
import { parseNginx } from './nginx-conf.js';
import { nginxRoutes, type FoundRoute } from './nginx-routes.js';
import { readEcosystem, readJlist } from './pm2-read.js';
import { processApps, WAS_PORT, type AppOptions, type ImportedApp } from './process-apps.js';
import { Checklist, type ProcessDef } from './process-def.js';
import { renderApp, renderChecklist, WAS_COMMENT } from './process-render.js';
import { readProcfile } from './procfile-read.js';
import { readUnit } from './systemd-read.js';
import { writeNewFile } from './write-new.js';

export interface ProcessImportOptions {
  readonly app?: string;
  /** Write DIR/<app>/berth.yaml and DIR/CHECKLIST.txt instead of printing them. */
  readonly write?: string;
  readonly force?: boolean;
}

/** `berth import pm2 [file] | --running`. */
export function runPm2Import(file: string | undefined, opts: ProcessImportOptions & { running?: boolean }): void {
  const list = new Checklist();
  if (opts.running === true) {
    const r = spawnSync('pm2', ['jlist'], { encoding: 'utf8', shell: false, timeout: 30_000, maxBuffer: 64 << 20 });
    if (r.error || r.status !== 0)
      throw new BerthError('failed', 'pm2_unavailable', `pm2 jlist failed: ${r.error?.message ?? r.stderr.trim()}`, {
        hint: 'run it as the user PM2 runs as, with pm2 on PATH (and PM2_HOME if it is not ~/.pm2)',
      });
    const defs = readJlist(jsonOf(r.stdout.slice(r.stdout.indexOf('[')), 'pm2 jlist'), list, process.env);
    return finish(processApps(defs, list, appOpts(opts)), list, 'pm2', 'the running PM2 (pm2 jlist)', opts);
  }
  if (file === undefined)
    throw new BerthError('invalid', 'import_missing', 'give an ecosystem file or --running', {
      hint: 'berth import pm2 ecosystem.config.js, or berth import pm2 --running',
    });
  const defs = readEcosystem(ecosystemData(file), file, list);
  finish(processApps(defs, list, appOpts(opts)), list, 'pm2', file, opts);
}

/** `berth import procfile Procfile`. */
export function runProcfileImport(file: string, opts: ProcessImportOptions): void {
  const list = new Checklist();
  const { processes, release } = readProcfile(readLocalFile(file, 'a Procfile'), path.basename(file), list);
  const app = opts.app ?? path.basename(path.dirname(path.resolve(file)));
  const root = path.dirname(path.resolve(file));
  const defs: ProcessDef[] = processes.map((p) => ({ ...p, cwd: root }));
  finish(processApps(defs, list, { app, release, workersUnlessWeb: true }), list, 'procfile', file, opts);
}

/** `berth import systemd unit...`: a template instance `site@NAME.service` is read from `site@.service` beside it. */
export function runSystemdImport(files: readonly string[], opts: ProcessImportOptions): void {
  const list = new Checklist();
  const defs: ProcessDef[] = [];
  for (const file of files) {
    const base = path.basename(file);
    const m = /^(.+)@(.+)\.service$/.exec(base);
    const template = m ? path.join(path.dirname(file), `${m[1]}@.service`) : file;
    const text = readLocalFile(m && readIfPresent(file) === null ? template : file, 'a systemd unit file');
    const def = readUnit(text, file, list, readIfPresent, m ? (m[2] as string) : null);
    if (def) defs.push(def);
  }
  finish(processApps(defs, list, appOpts(opts)), list, 'systemd', files.join(' '), opts);
}

/** `berth import nginx conf... [--into DIR]`: routes; with --into, added to the services of DIR's berth.yaml files by port. */
export function runNginxImport(files: readonly string[], opts: { into?: string }): void {
  const list = new Checklist();
  const routes: FoundRoute[] = [];
  for (const file of files) {
    const parsed = parseNginx(readLocalFile(file, 'an nginx configuration file'));
    for (const p of parsed.problems) list.add(`${file} line ${p.line}`, `nginx would refuse this: ${p.why}`);
    routes.push(...nginxRoutes(parsed.directives, file, list));
  }
  printOrAttach(routes, list, opts);
}

/** `berth import caddy Caddyfile... [--into DIR]`: as nginx; snippets of every file given can be imported by each. */
export function runCaddyImport(files: readonly string[], opts: { into?: string }): void {
  const list = new Checklist();
  const parsed = files.map((file) => ({ file, conf: parseCaddyfile(readLocalFile(file, 'a Caddyfile')) }));
  const snippets = new Map(
    parsed.flatMap((p) => [...p.conf.snippets].map(([name, body]) => [name, { file: p.file, body }] as const)),
  );
  const routes = parsed.flatMap((p) => caddyRoutes(p.conf, p.file, list, snippets));
  printOrAttach(routes, list, opts);
}

function printOrAttach(routes: readonly FoundRoute[], list: Checklist, opts: { into?: string }): void {
  if (opts.into === undefined) {
    const byPort: Record<string, unknown[]> = {};
    for (const r of routes) (byPort[String(r.port)] ??= []).push(routeOut(r));
    process.stdout.write(
      '# Routes found, by the local port they proxy to: add each list to the routes: of the service on that port\n' +
        '# (or run the process imports with --write DIR, then this one with --into DIR).\n' +
        new Document(byPort).toString({ lineWidth: 0 }) +
        renderChecklist(list.items),
    );
    return;
  }
  attachRoutes(opts.into, routes, list);
  process.stdout.write(renderChecklist(list.items));
}

function attachRoutes(dir: string, routes: readonly FoundRoute[], list: Checklist): void {
  const files = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => path.join(dir, e.name, 'berth.yaml'))
    .filter((f) => readIfPresent(f) !== null);
  const docs = files.map((f) => ({
    file: f,
    doc: parseDocument(readLocalFile(f, 'a berth.yaml'), { keepSourceTokens: false }),
    changed: false,
  }));
  for (const r of routes) {
    const hit = docs.flatMap((d) => {
      const services = d.doc.get('services');
      if (!isMap(services)) return [];
      return services.items
        .filter((pair, i) => listensOn(pair, r.port, i === 0 ? services.commentBefore : null))
        .map((pair) => ({ d, name: String((pair.key as { value: unknown }).value) }));
    })[0];
    if (!hit) {
      list.add(
        r.origin,
        `${r.host}${r.path} proxies to port ${r.port}, where no imported service listens: nothing may be running there (check with: ss -ltnp 'sport = :${r.port}')`,
      );
      continue;
    }
    const seq = hit.d.doc.getIn(['services', hit.name, 'routes']);
    if (seq === undefined) hit.d.doc.setIn(['services', hit.name, 'routes'], hit.d.doc.createNode([routeOut(r)]));
    else hit.d.doc.addIn(['services', hit.name, 'routes'], hit.d.doc.createNode(routeOut(r)));
    hit.d.changed = true;
  }
  for (const d of docs) if (d.changed) writeNewFile(d.file, d.doc.toString({ lineWidth: 0 }), true);
  for (const d of docs) if (d.changed) process.stderr.write(`added routes to ${d.file}\n`);
}

/** A service pinned to `port`, or one the process import marked as having listened there. */
function listensOn(pair: Pair, port: number, mapComment: string | null | undefined): boolean {
  // The first service's comment is read back as the map's own.
  const was = (isScalar(pair.key) ? pair.key.commentBefore : null) ?? mapComment ?? '';
  if (was.trim() === `${WAS_COMMENT} ${port}`) return true;
  return isMap(pair.value) && pair.value.get('port') === port;
}

function routeOut(r: FoundRoute): unknown {
  if (r.tlsMode !== undefined)
    return { host: r.host, path: r.path, ...(r.strip ? { strip: true } : {}), tls: r.tlsMode };
  return r.path === '/' && !r.strip
    ? r.host
    : r.strip
      ? { host: r.host, path: r.path, strip: true }
      : `${r.host}${r.path}`;
}

function finish(apps: ImportedApp[], list: Checklist, tool: string, source: string, opts: ProcessImportOptions): void {
  for (const a of apps)
    for (const problem of checkImported({ app: a.app, services: withoutMarks(a.services) }).problems)
      list.add(`${a.app}/berth.yaml`, `does not pass Berth's validation: ${problem}`);
  const texts = apps.map((a) => ({ app: a.app, text: renderApp(a, tool, source) }));
  const checklist = renderChecklist(list.items);
  if (opts.write === undefined) {
    process.stdout.write(texts.map((t) => t.text).join('---\n') + checklist);
    return;
  }
  for (const t of texts) {
    mkdirSync(path.join(opts.write, t.app), { recursive: true });
    writeNewFile(path.join(opts.write, t.app, 'berth.yaml'), t.text, Boolean(opts.force));
    process.stderr.write(`wrote ${path.join(opts.write, t.app, 'berth.yaml')}\n`);
  }
  writeNewFile(path.join(opts.write, `CHECKLIST-${tool}.txt`), checklist, true);
  process.stdout.write(checklist);
}

function withoutMarks(services: ImportedApp['services']): ImportedApp['services'] {
  return Object.fromEntries(Object.entries(services).map(([k, s]) => [k, { ...s, [WAS_PORT]: undefined }]));
}

function appOpts(opts: ProcessImportOptions): AppOptions {
  if (opts.app !== undefined && nameProblem(opts.app) !== undefined)
    throw new BerthError('invalid', 'invalid_name', `--app ${JSON.stringify(opts.app)} ${nameProblem(opts.app)}`, {
      hint: 'names are DNS labels: 1-63 characters of a-z, 0-9 and "-", starting and ending with a letter or digit',
    });
  return opts.app !== undefined ? { app: opts.app } : {};
}

/** An ecosystem file's data: JSON or YAML as it is; a .js/.cjs/.mjs file evaluated by Node as PM2 does. */
function ecosystemData(file: string): unknown {
  if (/\.(json)$/.test(file)) return jsonOf(readLocalFile(file, 'an ecosystem file'), file);
  if (/\.(ya?ml)$/.test(file)) return parseYaml(readLocalFile(file, 'an ecosystem file'));
  readLocalFile(file, 'an ecosystem file');
  // As PM2 does: require() it; an ES module (.mjs, or "type": "module") is imported instead.
  const code =
    'const f = process.argv[1]; (async () => { let m; try { m = require(f); } catch (e) { if (e.code !== "ERR_REQUIRE_ESM") throw e;' +
    ' m = (await import(require("node:url").pathToFileURL(f).href)).default; } process.stdout.write(JSON.stringify(m)); })()' +
    '.catch((e) => { process.stderr.write(String(e && e.message)); process.exit(1); });';
  const r = spawnSync(process.execPath, ['-e', code, path.resolve(file)], {
    cwd: path.dirname(path.resolve(file)),
    encoding: 'utf8',
    shell: false,
    timeout: 30_000,
  });
  if (r.status !== 0)
    throw new BerthError(
      'invalid',
      'ecosystem_failed',
      `${file} did not load in Node: ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-3).join(' ')}`,
      {
        hint: 'the file must load with node as PM2 loads it (module.exports = { apps: [...] })',
      },
    );
  return jsonOf(r.stdout, file);
}

function jsonOf(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new BerthError('invalid', 'import_not_json', `${what} is not JSON`, { hint: 'give the file PM2 reads' });
  }
}
