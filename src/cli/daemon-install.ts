import { lstatSync, readFileSync, readlinkSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { ApiError } from '../api/client.js';
import { SETTING_VARIABLES } from '../config/setting-sources.js';
import { writeFileAtomic } from '../system/atomic-write.js';
import { runCommand } from '../system/command.js';
import { DAEMON_MAIN, DAEMON_NODE_FLAGS } from './daemon-control.js';
import { renderUnit, UNIT_MARKER } from './daemon-unit.js';
import { entryExists } from '../system/paths.js';

export const UNIT_NAME = 'berthd.service';
/** Where systemd reads the units an administrator adds. */
/** Where units go by default (daemon-commands.ts names it in its help without loading this module). */
export const SYSTEM_UNIT_DIR = '/etc/systemd/system';

/** What `berth daemon install` did (or, with --dry-run, would do). */
export interface InstallResult {
  readonly path: string;
  readonly unit: string;
  readonly written: boolean;
  /** systemctl commands run, each with its outcome. */
  readonly ran: readonly CommandOutcome[];
  /** What the user still has to run, and why. */
  readonly next: readonly string[];
}

export interface UninstallResult {
  readonly path: string;
  /** Files removed: the unit, and the link that enabled it at boot. */
  readonly removed: readonly string[];
  readonly ran: readonly CommandOutcome[];
  readonly next: readonly string[];
}

export interface CommandOutcome {
  readonly command: string;
  readonly ok: boolean;
  readonly output: string;
}

/** The unit directory: `--unit-dir`, else BERTH_SYSTEMD_DIR, else /etc/systemd/system. */
export function unitDir(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(flag ?? (env.BERTH_SYSTEMD_DIR || SYSTEM_UNIT_DIR));
}

/** berthd's unit as this installation runs it: this node, this build, this BERTH_HOME and settings variables. */
export function unitText(home: string, env: NodeJS.ProcessEnv = process.env): string {
  // Not BERTH_STORE_URL: its password would be in a unit file anyone may read (and printed); config.yaml's `store:` holds it.
  const settings = SETTING_VARIABLES.filter((k) => env[k] && k !== 'BERTH_STORE_URL').map(
    (k) => [k, env[k] as string] as const,
  );
  return renderUnit({
    node: process.execPath,
    nodeFlags: (env.BERTH_DAEMON_NODE_FLAGS ?? DAEMON_NODE_FLAGS).split(' ').filter(Boolean),
    daemonMain: DAEMON_MAIN,
    env: [['BERTH_HOME', home], ...settings],
  });
}

/** Writes the unit (atomically; never over a file Berth did not write), then enables it when systemd runs. */
export async function installUnit(opts: { dir: string; home: string; dryRun: boolean }): Promise<InstallResult> {
  const file = path.join(opts.dir, UNIT_NAME);
  const unit = unitText(opts.home);
  assertOurs(file);
  if (opts.dryRun) return { path: file, unit, written: false, ran: [], next: [] };
  writeFileAtomic(file, unit, 0o644);
  if (!managed(opts.dir)) return { path: file, unit, written: true, ran: [], next: instructions(opts.dir, file) };
  const ran = [await systemctl('daemon-reload'), await systemctl('enable', UNIT_NAME)];
  const next = ran.every((r) => r.ok)
    ? [`berthd starts at boot. To run it under systemd now: berth daemon stop && systemctl start ${UNIT_NAME}`]
    : [`a systemctl command failed (above): fix what it says, then run systemctl enable ${UNIT_NAME}`];
  return { path: file, unit, written: true, ran, next };
}

/** Disables and removes the unit Berth wrote; a file it did not write is refused. */
export async function uninstallUnit(opts: { dir: string }): Promise<UninstallResult> {
  const file = path.join(opts.dir, UNIT_NAME);
  if (!entryExists(file))
    return { path: file, removed: [], ran: [], next: [`nothing to remove: ${file} does not exist`] };
  assertOurs(file);
  const ran: CommandOutcome[] = [];
  if (managed(opts.dir)) ran.push(await systemctl('disable', UNIT_NAME));
  const removed: string[] = [];
  // The link `systemctl enable` made (when systemd was not running to remove it above).
  const wants = path.join(opts.dir, 'multi-user.target.wants', UNIT_NAME);
  if (entryExists(wants) && lstatSync(wants).isSymbolicLink() && path.resolve(opts.dir, readlinkSync(wants)) === file) {
    unlinkSync(wants);
    removed.push(wants);
  }
  unlinkSync(file);
  removed.push(file);
  if (managed(opts.dir)) ran.push(await systemctl('daemon-reload'));
  const next = managed(opts.dir)
    ? [`a berthd that systemd runs now keeps running until it stops: berth daemon stop ends it (apps keep running)`]
    : systemdRunning()
      ? []
      : [`systemd is not running on this machine (no /run/systemd/system): there was nothing to disable or reload`];
  return { path: file, removed, ran, next };
}

/** systemctl acts only for units in systemd's own directory, and only where systemd runs. */
function managed(dir: string): boolean {
  return dir === SYSTEM_UNIT_DIR && systemdRunning();
}

function systemdRunning(): boolean {
  return entryExists('/run/systemd/system');
}

function instructions(dir: string, file: string): string[] {
  const steps = [`systemctl daemon-reload`, `systemctl enable ${UNIT_NAME}`];
  if (dir !== SYSTEM_UNIT_DIR) steps.unshift(`systemctl link ${file}   # systemd reads units from ${SYSTEM_UNIT_DIR}`);
  const why = systemdRunning()
    ? `the unit is not in ${SYSTEM_UNIT_DIR}, so systemd does not know it yet`
    : 'systemd is not running on this machine (no /run/systemd/system), so nothing was enabled';
  return [
    `${why}. On the host that boots with systemd, run:`,
    ...steps.map((s) => `  ${s}`),
    `  berth daemon stop && systemctl start ${UNIT_NAME}   # hand the running berthd over to systemd now`,
  ];
}

async function systemctl(...args: string[]): Promise<CommandOutcome> {
  const command = ['systemctl', ...args].join(' ');
  try {
    const r = await runCommand(['systemctl', ...args], { timeoutMs: 30_000 });
    return { command, ok: r.code === 0, output: (r.stdout + r.stderr).trim() };
  } catch (err) {
    return { command, ok: false, output: err instanceof Error ? err.message : String(err) };
  }
}

/** A unit file there is Berth's own, or there is none; a link or someone else's unit is refused. */
function assertOurs(file: string): void {
  if (!entryExists(file)) return;
  const st = lstatSync(file);
  const ours = st.isFile() && readFileSync(file, 'utf8').startsWith(UNIT_MARKER);
  if (!ours)
    throw new ApiError(
      0,
      'conflict',
      `${file} exists and was not written by berth daemon install${st.isSymbolicLink() ? ' (it is a link)' : ''}`,
      `move it away if it is an old berthd unit, or choose another directory with --unit-dir`,
    );
}
