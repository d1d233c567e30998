import { lstatSync, mkdirSync, realpathSync } from 'node:fs';
import path from 'node:path';
import type { ResourceLimits } from '../../config/manifest-types.js';
import { BerthError } from '../../core/errors.js';
import { containerLabels, type ContainerIdentity } from '../../runtime/container-config.js';
import type { ContainerEngine } from '../../runtime/container-engine.js';
import { runOnce } from '../../runtime/container-oneshot.js';
import { chownPath } from '../../system/safe-tree.js';
import type { UnixIds } from '../../system/users.js';
import { replaceFile } from './files.js';
import type { Initdb } from './postgres.js';

/**
 * A managed PostgreSQL run from an image (`postgres: 15` with `image: postgres:15`) through the
 * container engine, the same cluster as from the host's binaries: Berth runs the image's own
 * `initdb` and `postgres` (found on the image's PATH) with its own arguments, never the image's
 * entrypoint, so nothing depends on its environment conventions (POSTGRES_PASSWORD, PGDATA...).
 *
 * - As the environment's user (uid:gid, in the host's user namespace: `UsernsMode: host`), so its
 *   files on the host are that user's, as the host cluster's are. initdb looks its user up: a
 *   passwd naming that uid `postgres` is mounted on /etc/passwd (as the official image's notes
 *   on arbitrary users advise).
 * - The database's directory and its socket directory are bind-mounted at their own paths: the
 *   argv, the socket (`berth db shell`) and the seed dump are where the host cluster has them.
 * - On the environment's network (its services reach it as `<service>:<port>`), its port
 *   published on 127.0.0.1:<leased port>; connections arrive from the engine's proxy, so its
 *   pg_hba.conf (Berth's, read-only) asks every connection for the password.
 * - No capability, no-new-privileges; stopped by the engine with SIGINT (fast shutdown),
 *   SIGKILL only after stop_timeout.
 */
export interface ImageCluster {
  readonly engine: ContainerEngine;
  /** The home's label (`berth.home`): a one-shot container left by a killed berthd is swept at boot. */
  readonly home: string;
  /** The image id (pinned by the deploy's pull) or reference. */
  readonly image: string;
  readonly dataDir: string;
  /** The database's directory ($DATA_DIR/.berth/<service>) and socket directory. */
  readonly dir: string;
  readonly sockets: string;
  readonly ids: Pick<UnixIds, 'uid' | 'gid'>;
}

/** Berth's files for the container (passwd, pg_hba.conf): root's, beside the socket directory, never in the app's tree. */
export function imageEtcDir(sockets: string): string {
  return `${sockets}.etc`;
}

/** Writes the container's passwd (the environment's uid as `postgres`) and pg_hba.conf (passwords only). */
export function writeImageFiles(c: ImageCluster): void {
  const etc = imageEtcDir(c.sockets);
  const root = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  mkdirSync(etc, { recursive: true, mode: 0o755 });
  chownPath(etc, { ...root, mode: () => 0o755 });
  const files = {
    passwd: `root:x:0:0:root:/root:/usr/sbin/nologin\npostgres:x:${c.ids.uid}:${c.ids.gid}:PostgreSQL:${c.dir}:/usr/sbin/nologin\n`,
    'pg_hba.conf':
      '# Berth: a password (scram-sha-256) for every connection\nlocal all all scram-sha-256\nhost all all all scram-sha-256\n',
  };
  for (const [name, text] of Object.entries(files)) {
    replaceFile(path.join(etc, name), undefined, text);
    chownPath(path.join(etc, name), { ...root, mode: () => 0o644 });
  }
}

/** The server's extra argument: Berth's pg_hba.conf. */
export function imageHbaArgs(c: ImageCluster): string[] {
  return ['-c', `hba_file=${path.join(imageEtcDir(c.sockets), 'pg_hba.conf')}`];
}

/** initdb of the image, in a one-shot container of its own (no network), as the environment's user. */
export function imageInitdb(c: ImageCluster, name: string): Initdb {
  return {
    program: 'initdb',
    run: async (argv) => {
      const r = await runOnce(
        c.engine,
        name,
        {
          ...common(c, argv),
          Labels: { 'berth.home': c.home },
          NetworkDisabled: true,
          HostConfig: { ...hostConfig(c), NetworkMode: 'none' },
        },
        5 * 60_000,
      );
      return { code: r.code, stderr: r.output };
    },
  };
}

/** The server's create request: `argv` (postgres ...) on `network`, its port published on 127.0.0.1:`port`. */
export function serverConfig(
  c: ImageCluster,
  o: { argv: readonly string[]; who: ContainerIdentity; network: string; port: number; stopTimeoutMs: number },
  r: ResourceLimits | undefined,
): Record<string, unknown> {
  const exposed = `${o.port}/tcp`;
  return {
    ...common(c, o.argv),
    Labels: containerLabels(c.home, o.who),
    ExposedPorts: { [exposed]: {} },
    StopSignal: 'SIGINT',
    StopTimeout: Math.ceil(o.stopTimeoutMs / 1000),
    HostConfig: {
      ...hostConfig(c),
      NetworkMode: o.network,
      PortBindings: { [exposed]: [{ HostIp: '127.0.0.1', HostPort: String(o.port) }] },
      ShmSize: 256 * 1024 * 1024, // parallel queries' shared memory (the engine's default /dev/shm is 64 MiB)
      ...(r?.memoryBytes !== undefined ? { Memory: r.memoryBytes, MemorySwap: r.memoryBytes } : {}),
      ...(r?.cpu !== undefined ? { NanoCpus: Math.round(r.cpu * 1e9) } : {}),
      ...(r?.pids !== undefined ? { PidsLimit: r.pids } : {}),
    },
    NetworkingConfig: { EndpointsConfig: { [o.network]: { Aliases: [o.who.service] } } },
  };
}

function common(c: ImageCluster, argv: readonly string[]): Record<string, unknown> {
  return {
    Image: c.image,
    Entrypoint: [argv[0]],
    Cmd: argv.slice(1),
    User: `${c.ids.uid}:${c.ids.gid}`,
    Env: ['LANG=C.UTF-8'],
    WorkingDir: c.dir,
  };
}

function hostConfig(c: ImageCluster): Record<string, unknown> {
  const etc = imageEtcDir(c.sockets);
  const bind = (source: string, target: string, ro = false) => ({
    Type: 'bind',
    Source: source,
    Target: target,
    ReadOnly: ro,
  });
  return {
    Mounts: [
      bind(realDir(c.dir, c.dataDir), c.dir),
      bind(c.sockets, c.sockets),
      bind(path.join(etc, 'passwd'), '/etc/passwd', true),
      bind(path.join(etc, 'pg_hba.conf'), path.join(etc, 'pg_hba.conf'), true),
    ],
    UsernsMode: 'host',
    RestartPolicy: { Name: 'no' },
    Privileged: false,
    CapDrop: ['ALL'],
    SecurityOpt: ['no-new-privileges'],
    LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '2' } },
  };
}

/**
 * `dir` as the engine may mount it: a real directory, no link on the way from `dataDir` (the
 * app writes there, and the engine follows links in a mount's source). Its real path is mounted.
 */
export function realDir(dir: string, dataDir: string): string {
  const real = realpathSync(dir);
  if (real !== path.join(realpathSync(dataDir), path.relative(dataDir, dir)) || !lstatSync(real).isDirectory())
    throw new BerthError('invalid', 'database_dir_link', `${dir} is not a directory of the data directory (a link?)`, {
      hint: `remove what the app made there (${path.relative(dataDir, dir)} is Berth's): the database's data is mounted from it`,
    });
  return real;
}
