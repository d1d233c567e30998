import path from 'node:path';
import { secretName, SECRET_URL } from './compose-env.js';
import { berthName } from './import-names.js';
import { bindsAllInterfaces, listenPort } from './listen-port.js';
import type { Checklist, ProcessDef } from './process-def.js';

/** A service's key holding the port it listened on before, when Berth leases it another: printed as a comment. */
export const WAS_PORT = '#was_port';

/** One app made from processes, with the directory its berth.yaml belongs in (null: unknown). */
export interface ImportedApp {
  readonly app: string;
  readonly root: string | null;
  readonly services: Record<string, Record<string, unknown>>;
}

export interface AppOptions {
  /** Every process in one app of this name, instead of one app per project. */
  readonly app?: string;
  /** A Procfile's release command: the apps' release hook. */
  readonly release?: string | null;
  /** Workers (no port) unless they name $PORT: Procfile types other than `web`. */
  readonly workersUnlessWeb?: boolean;
}

/**
 * Groups processes into apps and maps each to a berth.yaml service. Processes whose names share
 * a prefix (`shop-web`, `shop-api`) and whose directories are siblings are one app (`shop`);
 * every other process is an app of its own. Ports are kept (pinned) as they were.
 */
export function processApps(defs: readonly ProcessDef[], list: Checklist, opts: AppOptions = {}): ImportedApp[] {
  const groups = opts.app !== undefined ? [{ name: opts.app, defs: [...defs] }] : group(defs);
  const taken = new Set<string>();
  const apps = groups.map((g) => {
    const { name: app, problem } = berthName(g.name, taken, 'app');
    taken.add(app);
    if (problem !== undefined)
      list.add(app, `app name ${JSON.stringify(g.name)} ${problem}: it is ${JSON.stringify(app)} here`);
    const root = commonRoot(g.defs);
    const names = new Set<string>();
    const services: Record<string, Record<string, unknown>> = {};
    for (const def of g.defs) {
      const short =
        g.defs.length > 1 && def.name.startsWith(g.name + '-') ? def.name.slice(g.name.length + 1) : def.name;
      const { name, problem: bad } = berthName(short, names, 'service');
      names.add(name);
      if (bad !== undefined)
        list.add(def.origin, `service name ${JSON.stringify(short)} ${bad}: it is ${JSON.stringify(name)} here`);
      services[name] = service(def, app, root, list, opts);
    }
    if (opts.release) {
      const first = Object.values(services)[0];
      if (first) first.release = opts.release;
    }
    return { app, root, services };
  });
  for (const [i, a] of apps.entries())
    for (const b of apps.slice(i + 1))
      if (a.root !== null && a.root === b.root)
        list.add(
          b.app,
          `runs from ${a.root}, as ${a.app} does: if it is another copy of the same code (a dev or staging process), make it an environment of ${a.app} (environments: in berth.yaml) instead of an app`,
        );
  return apps;
}

function service(
  def: ProcessDef,
  app: string,
  root: string | null,
  list: Checklist,
  opts: AppOptions,
): Record<string, unknown> {
  const argv = typeof def.command === 'string' ? null : [...def.command];
  // A program inside the directory it runs in is named relative to it, so the release's copy runs.
  if (argv && def.cwd !== null && argv[0]?.startsWith(def.cwd + '/')) argv[0] = argv[0].slice(def.cwd.length + 1);
  const out: Record<string, unknown> = { run: argv ? shellLine(argv) : def.command };
  if (def.cwd !== null && root !== null && def.cwd !== root) out.cwd = path.relative(root, def.cwd);
  const port = listenPort(def.command, def.env);
  const line = typeof out.run === 'string' ? out.run : '';
  if (port !== null && def.instances <= 1) {
    out.port = port.port;
    list.add(
      def.origin,
      `port ${port.port} is kept (from ${port.from}); stop the old process before berth up. For zero-downtime deploys make it listen on $PORT and set port: auto`,
    );
  } else if (port !== null) {
    out.port = 'auto';
    out[WAS_PORT] = port.port;
    if (line.includes(port.from)) out.run = line.replace(port.from, port.from.replace(String(port.port), '$PORT'));
    list.add(
      def.origin,
      `${def.instances} instances cannot share port ${port.port} (from ${port.from}): each gets its own port behind the proxy; make the command listen on $PORT`,
    );
  } else if (opts.workersUnlessWeb && def.name !== 'web' && !line.includes('PORT')) out.port = 'none';
  else if (!line.includes('PORT'))
    list.add(
      def.origin,
      'its port is not in its command or environment: Berth gives it $PORT; make it listen there, pin port:, or set port: none for a worker',
    );
  const all = bindsAllInterfaces(def.command, def.env);
  if (all !== null)
    list.add(
      def.origin,
      `listened on every interface (${all}): behind Berth, 127.0.0.1 is enough and keeps the port off the network`,
    );
  const env: Record<string, string> = {};
  for (const e of def.env) {
    if (e.key === 'PORT' || e.key === 'DATA_DIR') continue;
    if (e.value !== '' && (secretName(e.key) || SECRET_URL.test(e.value)))
      list.add(
        e.origin,
        `${e.key} looks like a secret: not in berth.yaml; set it with: berth secrets set ${app} ${e.key}  (reads the value from stdin)`,
      );
    else env[e.key] = e.value;
  }
  if (Object.keys(env).length > 0) out.env = env;
  if (def.restart !== null && def.restart !== 'always') out.restart = def.restart;
  if (def.instances > 1) out.instances = def.instances;
  if (def.stopTimeout !== null) out.stop_timeout = `${def.stopTimeout}s`;
  processNotes(def, app, list);
  return out;
}

/** What the checklist must say of a process beyond its service: its user, state, and files it keeps in its directory. */
function processNotes(def: ProcessDef, app: string, list: Checklist): void {
  if (def.user !== null)
    list.add(
      def.origin,
      `ran as ${def.user}: Berth runs the app as its own user berth-${app}; give it what it must read`,
    );
  if (def.state === 'errored' || def.state === 'stopped')
    list.add(def.origin, `was ${def.state} in the old tool (not running): berth deploy will show whether it starts`);
  const first = typeof def.command === 'string' ? (def.command.split(/\s+/)[0] ?? '') : (def.command[0] ?? '');
  if (/(^|\/)\.?venv\/bin\//.test(first))
    list.add(
      def.origin,
      `runs ${first} from a virtualenv in the app's directory: a release should build its own (build: python3 -m venv venv && venv/bin/pip install -r requirements.txt)`,
    );
  if (
    def.cwd !== null &&
    path.isAbsolute(first) &&
    !first.startsWith(def.cwd + '/') &&
    !/^\/(usr|bin|sbin)\//.test(first)
  )
    list.add(
      def.origin,
      `runs ${first}, outside its directory: a release should carry what it runs (a virtualenv or node_modules built in the release)`,
    );
  for (const e of def.env)
    if (def.cwd !== null && e.value.startsWith(def.cwd + '/') && /\.(db|sqlite3?)$/.test(e.value))
      list.add(
        e.origin,
        `${e.key} keeps a database file in the app's directory: put it in $DATA_DIR (${e.key}=$DATA_DIR/${path.basename(e.value)}), which every release shares and backups take`,
      );
}

function group(defs: readonly ProcessDef[]): { name: string; defs: ProcessDef[] }[] {
  const prefix = (d: ProcessDef) => (d.name.includes('-') ? d.name.slice(0, d.name.lastIndexOf('-')) : null);
  const parent = (d: ProcessDef) => (d.cwd === null ? null : path.dirname(d.cwd));
  const out: { name: string; defs: ProcessDef[] }[] = [];
  for (const d of defs) {
    const p = prefix(d);
    const name = p !== null && defs.some((o) => o !== d && prefix(o) === p && parent(o) === parent(d)) ? p : d.name;
    const g = out.find((x) => x.name === name);
    if (g) g.defs.push(d);
    else out.push({ name, defs: [d] });
  }
  return out;
}

function commonRoot(defs: readonly ProcessDef[]): string | null {
  const dirs = defs.map((d) => d.cwd);
  if (dirs.some((d) => d === null)) return null;
  if (new Set(dirs).size === 1) return dirs[0] as string;
  return path.dirname(dirs[0] as string);
}

/** An argv as one sh command line: words with anything but safe characters are single-quoted. */
export function shellLine(argv: readonly string[]): string {
  return argv.map((w) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replaceAll("'", `'\\''`)}'`)).join(' ');
}
