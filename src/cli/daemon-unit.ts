import { ApiError } from '../api/client.js';
import { VERSION } from '../version.js';

/** The first line of every unit Berth writes: `berth daemon uninstall` removes only a file that has it. */
export const UNIT_MARKER = '# Written by `berth daemon install`';

/** What berthd's systemd unit is made of. */
export interface UnitSource {
  /** The node binary that runs berthd (the one running this CLI). */
  readonly node: string;
  readonly nodeFlags: readonly string[];
  /** dist/bundle/berthd.js of this installation (berthd, bundled). */
  readonly daemonMain: string;
  /** Environment of berthd: BERTH_HOME first, then the settings variables in use (BERTH_PROXY, ...). */
  readonly env: ReadonlyArray<readonly [string, string]>;
}

/**
 * Capabilities berthd keeps (the unit's bounding set, which its apps inherit too): root, but
 * only for what it does. Each one with the reason, printed in the unit.
 */
const CAPABILITIES: ReadonlyArray<readonly [string, string]> = [
  ['CAP_NET_BIND_SERVICE', 'the proxy (builtin, Caddy or nginx) binds ports 80 and 443'],
  [
    'CAP_SETUID CAP_SETGID',
    "builds and instances run as each app's own user (app_users); nginx workers drop to theirs",
  ],
  ['CAP_CHOWN CAP_FOWNER', "each app's release, data and log directories are given to its user"],
  ['CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH', "app users' files are read, copied and removed whatever their modes"],
  ['CAP_KILL', 'instances running as app users are stopped'],
  [
    'CAP_SYS_PTRACE',
    "/proc/<pid>/environ and fd of app users' processes: which instance a process is, who holds a port",
  ],
];

/** The unit file's text. Refuses a value a unit file cannot carry (a line break, a control character). */
export function renderUnit(src: UnitSource): string {
  const exec = [src.node, ...src.nodeFlags, src.daemonMain].map(execWord).join(' ');
  const lines = [
    `${UNIT_MARKER} (Berth ${VERSION}); \`berth daemon uninstall\` removes it.`,
    '[Unit]',
    'Description=Berth control plane (berthd): runs, supervises and routes the apps of this host',
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    ...src.env.map(([k, v]) => `Environment=${quote(`${k}=${v}`)}`),
    `ExecStart=${exec}`,
    'Restart=on-failure',
    'RestartSec=1',
    '# Apps run in sessions of their own and outlive berthd (the next berthd adopts them, and starts',
    '# them again after a reboot): stopping or restarting this unit ends berthd only.',
    'KillMode=process',
    '# berthd runs as root, and keeps only these capabilities:',
    ...CAPABILITIES.map(([caps, why]) => `#   ${caps}: ${why}`),
    `CapabilityBoundingSet=${CAPABILITIES.map(([caps]) => caps).join(' ')}`,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ];
  return lines.join('\n');
}

/** One word of ExecStart: bare when it is plain, otherwise double-quoted with C escapes. */
function execWord(word: string): string {
  check(word);
  if (/^[A-Za-z0-9_@+=:,./-]+$/.test(word)) return word;
  return quote(word).replace(/\$/g, '$$$$'); // ExecStart expands $VAR: "$$" is a "$"
}

/** A double-quoted unit value: `\` and `"` escaped, `%` (a specifier) doubled. */
function quote(value: string): string {
  check(value);
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`).replace(/%/g, '%%')}"`;
}

function check(value: string): void {
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(value))
    throw new ApiError(
      0,
      'invalid',
      `${JSON.stringify(value)} has a control character: a systemd unit cannot hold it`,
      'use a BERTH_HOME and an installation path without line breaks or control characters',
    );
}
