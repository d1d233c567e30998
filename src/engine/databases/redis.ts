import path from 'node:path';
import { BerthError } from '../../core/errors.js';
import type { UnixIds } from '../../system/users.js';
import { chownPath } from '../../system/safe-tree.js';
import type { DatabaseBinaries } from './binaries.js';
import { newFile, ownDir, replaceFile, runTool } from './files.js';

/** Redis's working directory (its append-only files) inside the database's own. */
export function redisDataDir(dir: string): string {
  return path.join(dir, 'redis');
}

/**
 * Redis's configuration, written anew at every start (a config file, so the password is never
 * on a command line that any user can read in /proc): 127.0.0.1:`port` and a socket, append-only
 * persistence fsynced every second plus RDB snapshots, `requirepass`.
 */
export function writeRedisConfig(
  dir: string,
  ids: UnixIds | undefined,
  c: { port: number; sockets: string; password: string },
): string {
  ownDir(redisDataDir(dir), ids);
  const conf = path.join(dir, 'redis.conf');
  replaceFile(
    conf,
    ids,
    [
      'daemonize no',
      'bind 127.0.0.1',
      'protected-mode yes',
      `port ${c.port}`,
      `unixsocket ${path.join(c.sockets, 'redis.sock')}`,
      'unixsocketperm 700',
      `dir ${redisDataDir(dir)}`,
      'appendonly yes',
      'appendfsync everysec',
      'save 3600 1 300 100 60 10000',
      `requirepass ${c.password}`,
      '',
    ].join('\n'),
  );
  return conf;
}

export function redisArgv(bin: DatabaseBinaries, conf: string): string[] {
  return [bin.server, conf];
}

/**
 * A copy of a running Redis (`redis-cli --rdb`: a point-in-time snapshot over its replication
 * protocol, as `ids` with the source's password) made the base of a new server's append-only
 * files in `dir`, which it loads at its first start.
 */
export async function copyRedis(
  bin: DatabaseBinaries,
  from: { port: number; password: string; ids: UnixIds | undefined },
  dir: string,
  owner: UnixIds | undefined,
): Promise<void> {
  const aof = path.join(redisDataDir(dir), 'appendonlydir');
  ownDir(redisDataDir(dir), owner);
  ownDir(aof, owner);
  const base = 'appendonly.aof.1.base.rdb';
  // Into a file berthd made, as its stdout: redis-cli opens /dev/stdout itself, so it can cut off the
  // end-of-transfer marker it wrote (with "-" that marker would stay at the end of the file).
  const out = path.join(aof, base);
  const r = await runTool(
    [bin.client, '-h', '127.0.0.1', '-p', String(from.port), '--no-auth-warning', '--rdb', '/dev/stdout'],
    { ids: from.ids, env: { PATH: '/usr/bin:/bin', REDISCLI_AUTH: from.password }, out, timeoutMs: 30 * 60_000 },
  );
  chownPath(out, {
    uid: owner?.uid ?? process.getuid?.() ?? 0,
    gid: owner?.gid ?? process.getgid?.() ?? 0,
    mode: () => 0o600,
  });
  if (r.code !== 0)
    throw new BerthError(
      'failed',
      'dump_failed',
      `copying Redis on port ${from.port} failed: ${r.stderr || `exit ${r.code}`}`,
    );
  newFile(path.join(aof, 'appendonly.aof.manifest'), owner, `file ${base} seq 1 type b\n`);
}
