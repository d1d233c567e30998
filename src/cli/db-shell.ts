import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { ApiError } from '../api/client.js';
import type { DatabaseSpec } from '../config/manifest-types.js';
import { databaseBinaries } from '../system/database-binaries.js';
import { remoteTarget } from './credentials.js';

/** What `GET /v1/apps/:app/database?show=true` answers that the shell needs. */
export interface ShellAnswer {
  readonly app: string;
  readonly env: string;
  readonly service: string;
  readonly engine: DatabaseSpec['engine'];
  readonly version: string;
  readonly host: string;
  readonly port: number;
  readonly user: string | null;
  readonly database: string | null;
  readonly urlBase64?: string;
  readonly clientUser: { uid: number; gid: number; home: string } | null;
}

/**
 * Refuses `berth db shell` where it cannot run: the client runs here, as the environment's user,
 * so it needs berthd's host (not a remote berthd) and root.
 */
export function assertShellHere(): void {
  const remote = remoteTarget();
  if (remote)
    throw new ApiError(
      0,
      'db_shell_remote',
      `berth db shell runs psql or redis-cli on berthd's host, and this berth talks to berthd at ${remote.url}`,
      'run it on that host, as root; from here, `berth db url <app> [service] --show` gives the connection',
    );
  if (process.getuid?.() !== 0)
    throw new ApiError(
      0,
      'db_shell_not_root',
      "berth db shell runs psql or redis-cli as the environment's user, which needs root on berthd's host",
      'run it with sudo (sudo berth db shell ...)',
    );
}

/**
 * Runs the database's own client (psql of the server's major version, or redis-cli) with this
 * terminal's stdin and stdout, as the environment's user; the password in its environment
 * (PGPASSWORD, REDISCLI_AUTH), never on its command line. Resolves with the client's exit code.
 */
export function runShell(a: ShellAnswer): Promise<number> {
  const url = new URL(Buffer.from(a.urlBase64 ?? '', 'base64').toString('utf8'));
  const password = decodeURIComponent(url.password);
  const bin = databaseBinaries({ engine: a.engine, version: a.version }, a.service, 'tools');
  const base = {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: a.clientUser?.home ?? process.env.HOME ?? '/',
    ...(process.env.TERM ? { TERM: process.env.TERM } : {}),
    ...(process.env.LANG ? { LANG: process.env.LANG } : {}),
  };
  const [argv, env] =
    a.engine === 'postgres'
      ? [
          [bin.client],
          {
            ...base,
            PGHOST: a.host,
            PGPORT: String(a.port),
            PGUSER: a.user ?? 'postgres',
            PGDATABASE: a.database ?? 'postgres',
            PGPASSWORD: password,
          },
        ]
      : [[bin.client, '-h', a.host, '-p', String(a.port)], { ...base, REDISCLI_AUTH: password }];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), {
      env,
      shell: false,
      stdio: 'inherit',
      ...(a.clientUser ? { cwd: a.clientUser.home } : {}),
      ...(a.clientUser ? { uid: a.clientUser.uid, gid: a.clientUser.gid } : {}),
    });
    child.once('error', reject);
    child.once('close', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
  });
}
