import path from 'node:path';
import type { RestartPolicy } from '../config/manifest-types.js';
import { isMapping, scalarText } from './import-warnings.js';
import { Checklist, isShellVariable, type EnvEntry, type ProcessDef } from './process-def.js';

/** PM2 keys read into a ProcessDef; every other key of an app gets a checklist line. */
const READ = new Set(
  (
    'name script args interpreter interpreter_args node_args cwd env instances exec_mode autorestart ' +
    'kill_timeout user uid max_memory_restart'
  ).split(' '),
);
/** Keys Berth has its own answer to, with that answer. */
const WHY: Readonly<Record<string, string>> = {
  watch: 'Berth restarts on a deploy, not on file changes',
  ignore_watch: 'Berth restarts on a deploy, not on file changes',
  out_file: "Berth keeps each service's output: berth logs <app>",
  error_file: "Berth keeps each service's output: berth logs <app>",
  log_file: "Berth keeps each service's output: berth logs <app>",
  merge_logs: "Berth keeps each service's output: berth logs <app>",
  log_date_format: 'berth logs prints each line with its time',
  cron_restart: 'a scheduled restart: use a cron: job of the app if it is still needed',
  max_restarts: 'Berth backs off a crashing instance and reports a crashloop (berth ps, doctor)',
  min_uptime: 'Berth backs off a crashing instance and reports a crashloop (berth ps, doctor)',
  restart_delay: 'Berth backs off a crashing instance and reports a crashloop (berth ps, doctor)',
  exp_backoff_restart_delay: 'Berth backs off a crashing instance and reports a crashloop (berth ps, doctor)',
  wait_ready: 'Berth waits until the port answers (health:), not for process.send("ready")',
  listen_timeout: 'use health: { start_timeout: ... }',
  time: 'berth logs prints each line with its time',
};

/** The apps of an ecosystem file (`module.exports = { apps: [...] }`, or its JSON), already evaluated. */
export function readEcosystem(data: unknown, file: string, list: Checklist): ProcessDef[] {
  // A saved `pm2 jlist` (its entries have pm2_env) reads as the running PM2 would.
  if (Array.isArray(data) && data.some((e) => isMapping(e) && isMapping(e.pm2_env))) return readJlist(data, list, {});
  const apps = isMapping(data) ? data.apps : data;
  if (!Array.isArray(apps)) {
    list.notMapped(file, 'expected { apps: [...] } (an ecosystem file) or a list of apps');
    return [];
  }
  const out: ProcessDef[] = [];
  apps.forEach((app, i) => {
    const origin = `${path.basename(file)} apps[${i}]`;
    if (!isMapping(app)) return list.notMapped(origin, 'expected a mapping');
    const def = fromApp(app, origin, list);
    if (def) out.push(def);
  });
  return out;
}

function fromApp(app: Record<string, unknown>, origin: string, list: Checklist): ProcessDef | null {
  const script = scalarText(app.script);
  if (script === undefined) {
    list.notMapped(origin, 'an app without script: nothing to run');
    return null;
  }
  const name = scalarText(app.name) ?? path.basename(script).replace(/\.[a-z]+$/, '');
  for (const key of Object.keys(app))
    if (key.startsWith('env_'))
      list.notMapped(
        `${origin}.${key}`,
        `the ${key.slice(4)} environment's variables: put them under environments: ${key.slice(4)}: env: in berth.yaml`,
      );
    else if (!READ.has(key)) list.notMapped(`${origin}.${key}`, WHY[key] ?? 'not a PM2 option Berth knows');
  const cwd = scalarText(app.cwd) ?? null;
  const args = Array.isArray(app.args)
    ? app.args.map(String)
    : (scalarText(app.args)?.split(/\s+/).filter(Boolean) ?? []);
  const interpreter = scalarText(app.interpreter) ?? null;
  const interpreterArgs = [app.interpreter_args, app.node_args].flatMap((a) =>
    Array.isArray(a) ? a.map(String) : (scalarText(a)?.split(/\s+/).filter(Boolean) ?? []),
  );
  const env: EnvEntry[] = isMapping(app.env)
    ? Object.entries(app.env).map(([key, v]) => ({ key, value: scalarText(v) ?? '', origin: `${origin}.env.${key}` }))
    : [];
  return {
    name,
    origin,
    command: commandOf(script, args, interpreter, interpreterArgs, cwd),
    cwd,
    env,
    user: scalarText(app.user ?? app.uid) ?? null,
    restart: app.autorestart === false ? 'never' : 'always',
    instances: instancesOf(app.instances, app.exec_mode, origin, list),
    stopTimeout: typeof app.kill_timeout === 'number' ? Math.ceil(app.kill_timeout / 1000) : null,
    state: null,
    ...memory(app.max_memory_restart, origin, list),
  };
}

/** `pm2 jlist`: one entry per running instance (cluster mode repeats a name), with the environment PM2 gave it. */
export function readJlist(data: unknown, list: Checklist, shellEnv: NodeJS.ProcessEnv): ProcessDef[] {
  if (!Array.isArray(data)) {
    list.notMapped('pm2 jlist', 'expected a list of processes');
    return [];
  }
  const byName = new Map<string, { def: ProcessDef; count: number }>();
  for (const entry of data) {
    const e = isMapping(entry) && isMapping(entry.pm2_env) ? entry.pm2_env : null;
    const name = e ? scalarText(e.name) : undefined;
    if (!e || name === undefined) {
      list.notMapped('pm2 jlist', 'an entry without pm2_env.name');
      continue;
    }
    const seen = byName.get(name);
    if (seen) {
      seen.count++;
      continue;
    }
    byName.set(name, { def: fromJlist(name, e, list, shellEnv), count: 1 });
  }
  return [...byName.values()].map(({ def, count }) => ({ ...def, instances: Math.max(def.instances, count) }));
}

function fromJlist(name: string, e: Record<string, unknown>, list: Checklist, shellEnv: NodeJS.ProcessEnv): ProcessDef {
  const origin = `pm2 ${name}`;
  const script = scalarText(e.pm_exec_path) ?? '';
  const args = Array.isArray(e.args) ? e.args.map(String) : [];
  const interpreter = scalarText(e.exec_interpreter) ?? 'none';
  const nodeArgs = Array.isArray(e.node_args) ? e.node_args.map(String) : [];
  const cwd = scalarText(e.pm_cwd) ?? null;
  const raw = isMapping(e.env) ? e.env : {};
  const env: EnvEntry[] = [];
  const left: string[] = [];
  const own: string[] = [];
  for (const [key, v] of Object.entries(raw)) {
    const value = scalarText(v) ?? '';
    // PM2 7 adds its own entries to a live process's env: one named after the app ({}) and unique_id.
    if (key === name || key === 'unique_id' || scalarText(v) === undefined) own.push(key);
    else if (isShellVariable(key) || shellEnv[key] === value) left.push(key);
    else env.push({ key, value, origin: `${origin} env ${key}` });
  }
  if (left.length > 0)
    list.add(origin, `left out ${left.length} variables of the shell PM2 was started from (${left.sort().join(', ')})`);
  if (own.length > 0) list.add(origin, `left out PM2's own entries in its env (${own.sort().join(', ')})`);
  const status = scalarText(e.status) ?? null;
  return {
    name,
    origin,
    command: commandOf(script, args, interpreter === 'none' ? null : interpreter, nodeArgs, cwd),
    cwd,
    env,
    user: null,
    restart: e.autorestart === false ? 'never' : 'always',
    instances: typeof e.instances === 'number' && e.instances > 1 ? e.instances : 1,
    stopTimeout: typeof e.kill_timeout === 'number' ? Math.ceil(e.kill_timeout / 1000) : null,
    state: status,
    ...memory(e.max_memory_restart, origin, list),
  };
}

/** The command PM2 ran: `bash -c LINE` is LINE; a script with an interpreter runs through it. */
function commandOf(
  script: string,
  args: readonly string[],
  interpreter: string | null,
  interpreterArgs: readonly string[],
  cwd: string | null,
): string | readonly string[] {
  if (/(^|\/)(ba)?sh$/.test(script) && args[0] === '-c' && args.length === 2) return args[1] as string;
  const file = cwd !== null && script.startsWith(cwd + '/') ? script.slice(cwd.length + 1) : script;
  const runner = interpreter ?? (/\.[cm]?js$/.test(file) ? 'node' : /\.py$/.test(file) ? 'python3' : null);
  const base =
    runner !== null && runner !== 'none'
      ? [path.basename(runner) === runner ? runner : runner, ...interpreterArgs]
      : [];
  const argv = [...base, file, ...args];
  // A script given as a whole command line (`pm2 start "npm run start"` in an ecosystem file) stays one line.
  return argv.length === 1 && /\s/.test(file) ? file : argv;
}

function instancesOf(value: unknown, mode: unknown, origin: string, list: Checklist): number {
  if (mode === 'cluster' || mode === 'cluster_mode')
    list.add(
      `${origin}.exec_mode`,
      'cluster mode: Berth runs each instance as its own process on its own port, behind the proxy',
    );
  if (value === undefined) return 1;
  if (typeof value === 'number' && value >= 1) return Math.floor(value);
  list.add(
    `${origin}.instances`,
    `${JSON.stringify(value)} (one per CPU) is 2 here: set instances: to the number you want`,
  );
  return 2;
}

function memory(value: unknown, origin: string, list: Checklist): Record<string, never> {
  const text = scalarText(value);
  if (text !== undefined)
    list.notMapped(
      `${origin}.max_memory_restart`,
      `${text}: Berth limits memory with resources: { memory: ${text.toUpperCase().replace(/B$/, '')} } (the kernel stops an instance over it, and Berth restarts it)`,
    );
  return {};
}

export type { RestartPolicy };
