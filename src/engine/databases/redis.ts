import path from 'node:path';
import { BerthError } from '../../core/errors.js';
import type { UnixIds } from '../../system/users.js';
import { chownPath } from '../../system/safe-tree.js';
import type { DatabaseBinaries } from '../../system/database-binaries.js';
import { copyInto, newFile, ownDir, replaceFile, runTool } from './files.js';

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

/** A running Redis as its client reaches it: on 127.0.0.1 with the password (in the environment, never argv), as `ids`. */
export interface RedisAccess {
  readonly port: number;
  readonly password: string;
  readonly ids: UnixIds | undefined;
}

/**
 * A point-in-time RDB snapshot of a running Redis (`redis-cli --rdb`, over its replication
 * protocol, as `ids` with its password) into the new file `out`, owned by `owner`.
 */
export async function snapshotRedis(
  bin: DatabaseBinaries,
  from: RedisAccess,
  out: string,
  owner: UnixIds | undefined,
): Promise<void> {
  // Into a file berthd made, as its stdout: redis-cli opens /dev/stdout itself, so it can cut off the
  // end-of-transfer marker it wrote (with "-" that marker would stay at the end of the file).
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
}

/** The file of `dir` a new server loads at its first start: the base of its append-only files (see placeRdb). */
function aofBase(dir: string, owner: UnixIds | undefined): string {
  const aof = path.join(redisDataDir(dir), 'appendonlydir');
  ownDir(redisDataDir(dir), owner);
  ownDir(aof, owner);
  newFile(path.join(aof, 'appendonly.aof.manifest'), owner, `file ${AOF_BASE} seq 1 type b\n`);
  return path.join(aof, AOF_BASE);
}

const AOF_BASE = 'appendonly.aof.1.base.rdb';

/**
 * A copy of a running Redis (an RDB snapshot, as the source's user with its password) made the
 * base of a new server's append-only files in `dir`, which it loads at its first start.
 */
export async function copyRedis(
  bin: DatabaseBinaries,
  from: RedisAccess,
  dir: string,
  owner: UnixIds | undefined,
): Promise<void> {
  await snapshotRedis(bin, from, aofBase(dir, owner), owner);
}

/** An RDB file (of a backup) made the base of the append-only files of a Redis that is not running, in `dir` (new). */
export function placeRdb(rdb: string, dir: string, owner: UnixIds | undefined): void {
  copyInto(rdb, aofBase(dir, owner), owner);
}

/** The keys of a running Redis, in all its databases (INFO keyspace). */
export async function redisKeys(bin: DatabaseBinaries, c: RedisAccess): Promise<number> {
  let out = '';
  const r = await runTool(
    [bin.client, '-h', '127.0.0.1', '-p', String(c.port), '--no-auth-warning', 'INFO', 'keyspace'],
    {
      ids: c.ids,
      env: { PATH: '/usr/bin:/bin', REDISCLI_AUTH: c.password },
      onStdout: (chunk) => (out += chunk.toString()),
      timeoutMs: 60_000,
    },
  );
  if (r.code !== 0 || !out.includes('# Keyspace'))
    throw new BerthError(
      'failed',
      'dump_failed',
      `Redis on port ${c.port} did not answer INFO: ${r.stderr || out.trim()}`,
    );
  return [...out.matchAll(/^db\d+:keys=(\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
}

/**
 * Checks an RDB file of berthd's own (in its staging or scratch directory: no link an app could
 * plant) with redis-check-rdb; the keys it read. As berthd: the tool opens the file by its name
 * (a socket as its stdin will not do), and the environment's user may not read berthd's files.
 */
export async function rdbKeys(file: string): Promise<number> {
  let out = '';
  const r = await runTool(['/usr/bin/redis-check-rdb', file], {
    ids: undefined,
    env: { PATH: '/usr/bin:/bin' },
    onStdout: (chunk) => (out = (out + chunk.toString()).slice(-20_000)),
    timeoutMs: 6 * 60 * 60_000,
  });
  const keys = /\[info\] (\d+) keys read/.exec(out)?.[1];
  if (r.code !== 0 || keys === undefined || !out.includes('RDB looks OK'))
    throw new BerthError(
      'failed',
      'backup_unverified',
      `redis-check-rdb rejects the snapshot: ${(out.split('\n').find((l) => /error|fail|wrong|unexpected/i.test(l)) ?? r.stderr) || `exit ${r.code}`}`,
    );
  return Number(keys);
}
