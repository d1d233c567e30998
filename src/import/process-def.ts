import type { RestartPolicy } from '../config/manifest-types.js';

/** Where a value came from, as the checklist names it: `ecosystem.config.js apps[1].env.PORT`, `api.service line 7`. */
export type Origin = string;

/** One environment variable as the source set it. */
export interface EnvEntry {
  readonly key: string;
  readonly value: string;
  readonly origin: Origin;
}

/**
 * A long-running process as another tool (PM2, a Procfile, systemd) describes it: what every
 * process importer reads its source into, and what `process-apps` turns into berth.yaml services.
 */
export interface ProcessDef {
  /** Its name in the source (a PM2 app name, a Procfile type, a unit's name). */
  readonly name: string;
  readonly origin: Origin;
  /** A shell command line (run with `sh -c`), or an argv run as it is. */
  readonly command: string | readonly string[];
  /** The absolute directory it ran in, when the source says; null for "where the file is". */
  readonly cwd: string | null;
  readonly env: readonly EnvEntry[];
  /** The system user it ran as, when the source says and it is not root. */
  readonly user: string | null;
  readonly restart: RestartPolicy | null;
  readonly instances: number;
  /** Seconds it was given to stop, when the source says. */
  readonly stopTimeout: number | null;
  /** What the source said of its state (PM2's `errored`, `stopped`), for the checklist. */
  readonly state: string | null;
}

/** One line of the migration checklist: something to do, or something that was not mapped. */
export interface ChecklistItem {
  readonly origin: Origin;
  readonly text: string;
}

/** Items in the order they are found; nothing an importer meets is dropped without one. */
export class Checklist {
  readonly #items: ChecklistItem[] = [];

  add(origin: Origin, text: string): void {
    this.#items.push({ origin, text });
  }

  notMapped(origin: Origin, why: string): void {
    this.add(origin, `not mapped: ${why}`);
  }

  get items(): readonly ChecklistItem[] {
    return this.#items;
  }
}

/** Variables of a login shell or of the tool itself, not of the app: never imported. */
const SHELL_VARS = new Set(
  (
    'PATH HOME SHELL PWD OLDPWD SHLVL _ TERM LANG LANGUAGE USER LOGNAME MAIL HOSTNAME DISPLAY EDITOR VISUAL ' +
    'PAGER COLORTERM LS_COLORS MOTD_SHOWN TMUX TMUX_PANE TZ NODE_APP_INSTANCE INVOCATION_ID JOURNAL_STREAM'
  ).split(' '),
);
const TOOL_PREFIXES = ['LC_', 'SSH_', 'XDG_', 'PM2_', 'pm_', 'SUDO_', 'DBUS_'];

/** True for a variable every login shell (or PM2 itself) sets: it says nothing about the app. */
export function isShellVariable(key: string): boolean {
  return SHELL_VARS.has(key) || TOOL_PREFIXES.some((p) => key.startsWith(p));
}
