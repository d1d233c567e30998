import path from 'node:path';
import type { RestartPolicy } from '../config/manifest-types.js';
import { parseDotenv } from './dotenv.js';
import { Checklist, type EnvEntry, type ProcessDef } from './process-def.js';
import { shellWords } from './shell-words.js';

/** [Service] keys read into a ProcessDef. */
const READ = new Set([
  'ExecStart',
  'WorkingDirectory',
  'Environment',
  'EnvironmentFile',
  'User',
  'Restart',
  'TimeoutStopSec',
  'Type',
]);
const WHY: Readonly<Record<string, string>> = {
  ExecStartPre: 'a command before each start: a build: step, or a release: hook when it migrates',
  ExecStartPost: 'Berth starts the next wave when this one is healthy (depends_on)',
  ExecReload: 'berth deploy replaces instances; there is no reload signal',
  ExecStop: 'Berth stops an instance with SIGTERM, then SIGKILL after stop_timeout',
  Group: 'Berth runs each app as its own system user and group',
  StandardOutput: "Berth keeps each service's output: berth logs <app>",
  StandardError: "Berth keeps each service's output: berth logs <app>",
  RestartSec: 'Berth backs off a crashing instance and reports a crashloop (berth ps, doctor)',
  LimitNOFILE: 'not a Berth setting: raise it for berthd itself if the app needs it',
  MemoryMax: 'use resources: { memory: ... }',
  MemoryLimit: 'use resources: { memory: ... }',
  CPUQuota: 'use resources: { cpu: ... }',
  TasksMax: 'use resources: { pids: ... }',
};
const RESTART: Readonly<Record<string, RestartPolicy>> = {
  always: 'always',
  'on-failure': 'on-failure',
  'on-abnormal': 'on-failure',
  'on-abort': 'on-failure',
  'on-watchdog': 'on-failure',
  'on-success': 'always',
  no: 'never',
};

interface UnitLine {
  readonly section: string;
  readonly key: string;
  readonly value: string;
  readonly line: number;
}

/** The lines of a unit file: `Key=Value` under `[Section]`, comments and `\` continuations handled. */
export function parseUnit(text: string): UnitLine[] {
  const out: UnitLine[] = [];
  let section = '';
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i + 1;
    let line = (lines[i] as string).trim();
    while (line.endsWith('\\') && i + 1 < lines.length) line = line.slice(0, -1) + ' ' + (lines[++i] as string).trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) section = header[1] as string;
    else {
      const eq = line.indexOf('=');
      if (eq > 0) out.push({ section, key: line.slice(0, eq).trim(), value: line.slice(eq + 1).trim(), line: start });
    }
  }
  return out;
}

/**
 * A service unit (`forgetrace-backend.service`, or a template instance `site@example.service`
 * read from `site@.service`) as a ProcessDef. `readFile` reads an EnvironmentFile (null when it
 * cannot: the checklist says so).
 */
export function readUnit(
  text: string,
  file: string,
  list: Checklist,
  readFile: (p: string) => string | null,
  instance: string | null,
): ProcessDef | null {
  const unit = path.basename(file);
  const name = unit.replace(/@.*$/, '').replace(/\.service$/, '');
  const spec = (v: string) => (instance === null ? v : v.replaceAll('%i', instance).replaceAll('%I', instance));
  let command: string | readonly string[] | null = null;
  let cwd: string | null = null;
  let user: string | null = null;
  let restart: RestartPolicy | null = 'never';
  let stopTimeout: number | null = null;
  const env: EnvEntry[] = [];
  for (const l of parseUnit(text)) {
    const origin = `${unit} line ${l.line}`;
    const value = spec(l.value);
    if (instance === null && /%[iI]/.test(l.value))
      list.add(
        origin,
        `${l.key} uses the template's instance name (%i): import an instance, e.g. ${name}@NAME.service`,
      );
    if (l.section !== 'Service') {
      if (l.section === 'Install')
        list.notMapped(origin, `${l.key}=${l.value}: berthd starts the app at boot itself (berth daemon install)`);
      else if (l.key === 'After' || l.key === 'Requires' || l.key === 'Wants')
        list.notMapped(origin, `${l.key}=${l.value}: if these are services of the app, list them in depends_on:`);
      else if (l.key !== 'Description') list.notMapped(origin, `[${l.section}] ${l.key}`);
      continue;
    }
    if (!READ.has(l.key)) {
      list.notMapped(origin, `${l.key}=${l.value}: ${WHY[l.key] ?? 'not a setting Berth maps'}`);
      continue;
    }
    if (l.key === 'ExecStart') {
      if (command !== null) list.notMapped(origin, 'a second ExecStart (Type=oneshot): only the first runs');
      else command = execLine(value, origin, list);
    } else if (l.key === 'WorkingDirectory') cwd = value.replace(/^-/, '');
    else if (l.key === 'User') user = value === 'root' ? null : value;
    else if (l.key === 'Restart') {
      restart = RESTART[value] ?? null;
      if (restart === null) list.notMapped(origin, `Restart=${value}: not a value systemd knows`);
    } else if (l.key === 'TimeoutStopSec') stopTimeout = seconds(value);
    else if (l.key === 'Type') {
      if (value === 'forking' || value === 'oneshot')
        list.notMapped(origin, `Type=${value}: Berth supervises a process that stays in the foreground`);
    } else if (l.key === 'Environment') {
      for (const word of shellWords(value) ?? [value]) {
        const eq = word.indexOf('=');
        if (eq > 0) env.push({ key: word.slice(0, eq), value: word.slice(eq + 1), origin });
      }
    } else envFile(value, origin, list, readFile, env);
  }
  if (command === null) {
    list.notMapped(unit, 'no ExecStart: nothing to run');
    return null;
  }
  return {
    name: instance ?? name,
    origin: unit,
    command,
    cwd,
    env,
    user,
    restart,
    instances: 1,
    stopTimeout,
    state: null,
  };
}

function execLine(value: string, origin: string, list: Checklist): string | readonly string[] | null {
  const prefixes = /^[-@:+!]+/.exec(value)?.[0] ?? '';
  if (prefixes !== '')
    list.add(origin, `ExecStart prefix ${prefixes} dropped: Berth runs the command as the app's user`);
  const words = shellWords(value.slice(prefixes.length));
  if (words === undefined || words.length === 0) {
    list.notMapped(origin, 'ExecStart has an unclosed quote');
    return null;
  }
  return words;
}

function envFile(
  value: string,
  origin: string,
  list: Checklist,
  readFile: (p: string) => string | null,
  env: EnvEntry[],
): void {
  const optional = value.startsWith('-');
  const file = optional ? value.slice(1) : value;
  const text = readFile(file);
  if (text === null) {
    if (!optional) list.notMapped(origin, `EnvironmentFile ${file} cannot be read here: import its variables by hand`);
    return;
  }
  const parsed = parseDotenv(text);
  for (const bad of parsed.bad) list.notMapped(`${file} line ${bad}`, 'not a KEY=VALUE line');
  for (const e of parsed.entries) env.push({ key: e.key, value: e.value, origin: `${file} (${e.key})` });
}

function seconds(value: string): number | null {
  const m = /^(\d+)\s*(s|sec|min|m)?$/.exec(value);
  if (!m) return null;
  return m[2] === 'min' || m[2] === 'm' ? Number(m[1]) * 60 : Number(m[1]);
}
