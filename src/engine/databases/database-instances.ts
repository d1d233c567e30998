import { mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { ServiceSpec } from '../../config/manifest-types.js';
import { BerthError } from '../../core/errors.js';
import { postgresProbe, redisProbe } from '../../health/database-probes.js';
import type { ProbeResult } from '../../health/probes.js';
import type { InstanceView } from '../../store/instances-repo.js';
import type { Store } from '../../store/store.js';
import type { HomeLayout } from '../../system/paths.js';
import { chownPath } from '../../system/safe-tree.js';
import type { UnixIds } from '../../system/users.js';
import { AppUsers } from '../app-users.js';
import { databaseBinaries } from '../../system/database-binaries.js';
import { databaseConnections, isDatabase, type ConnectionDeps, type DatabaseConnection } from './connection.js';
import { ownDir } from './files.js';
import { databaseDir, passwordSecret, POSTGRES_DATABASE, POSTGRES_USER, socketDir } from './layout.js';
import { assertClusterVersion, hostInitdb, initCluster, postgresArgv, restoreSeed } from './postgres.js';
import { imageHbaArgs, imageInitdb, writeImageFiles, type ImageCluster } from './postgres-image.js';
import { containerName, type ContainerRunner } from '../../runtime/container-runner.js';
import { redisArgv, writeRedisConfig } from './redis.js';

export interface DatabaseInstanceDeps {
  readonly store: Store;
  readonly layout: HomeLayout;
  readonly users: AppUsers | undefined;
  /** The environment's own secret `name`, made with `make` when missing (Secrets.ensure); none: no database can run. */
  readonly secret: ((app: string, env: string, name: string, make: () => string) => Promise<string>) | undefined;
  /** The container engine's runner (a PostgreSQL with `image:`), and the home's label on its containers. */
  readonly runner?: ContainerRunner | undefined;
  readonly home?: string;
}

/** What launches a prepared database: its argv as the user `ids`; with `image`, in a container of that image. */
export interface PreparedDatabase {
  readonly argv: string[];
  readonly cwd: string;
  readonly ids: UnixIds | undefined;
  readonly env: Record<string, string>;
  readonly image?: ImageCluster;
}

/** A new database password: 32 characters of base64url (192 bits), safe in a URL and a config file as it is. */
const newPassword = () => randomBytes(24).toString('base64url');

/**
 * The managed-database kind of instance (`postgres:`, `redis:`), at the instance manager's
 * seams: what runs (its cluster made once, its config written), as whom, how it is probed
 * and stopped. States, restarts, adoption and logs are the instance manager's, as for any
 * instance.
 *
 * Who it runs as: PostgreSQL refuses to run as root, and a preview must never reach
 * production's files. So a database always runs as its environment's system user
 * (`berth-<app>[-<env>]`, see AppUsers): the app's own user when app users are on; with app
 * users off and berthd root, the same user is made for the database alone (the app runs as
 * root and reaches it over its socket or port); when berthd is not root, as berthd's user.
 */
export class DatabaseInstances {
  readonly #d: DatabaseInstanceDeps;
  /** Each running database's password, by instance (its probe logs in with it). */
  readonly #passwords = new Map<number, string>();

  constructor(deps: DatabaseInstanceDeps) {
    this.#d = deps;
  }

  /** The user the environment's databases run as (see the class); undefined: berthd's own. */
  async runAs(app: string, env: string): Promise<UnixIds | undefined> {
    const users = this.#d.users;
    if (users?.enabled) return users.ids(app, env);
    if (process.getuid?.() !== 0) return undefined;
    const ids = await new AppUsers(this.#d.layout, true).ids(app, env);
    // Apps run as root here: $DATA_DIR stays root's, and only traversable for the database's user.
    const data = this.#d.layout.dataDir(app, env);
    mkdirSync(data, { recursive: true, mode: 0o711 });
    chownPath(data, { uid: 0, gid: 0, mode: () => 0o711 });
    return ids;
  }

  /** Who `berth db shell` runs the client as: the environment's user and its home when app users are on; else none (root). */
  async clientUser(app: string, env: string): Promise<{ uid: number; gid: number; home: string } | undefined> {
    const users = this.#d.users;
    const ids = users?.enabled ? await users.ids(app, env) : undefined;
    return ids && users ? { uid: ids.uid, gid: ids.gid, home: users.home(app, env) } : undefined;
  }

  /** The database's password (the environment's secret <NAME>_PASSWORD), made at its first start. */
  password(app: string, env: string, service: string): Promise<string> {
    if (!this.#d.secret)
      throw new BerthError('unavailable', 'no_secrets', 'managed databases need the secret store of berthd');
    return this.#d.secret(app, env, passwordSecret(service), newPassword);
  }

  /** The environment's databases, with their passwords (see connection.ts). */
  connections(app: string, env: string): Promise<DatabaseConnection[]> {
    return databaseConnections(this.connectionDeps(), app, env);
  }

  /** What databaseConnection(s) needs: the lookup a backup or `berth db url` makes. */
  connectionDeps(): ConnectionDeps {
    return { store: this.#d.store, layout: this.#d.layout, password: (a, e, n) => this.#secret(a, e, n) };
  }

  #secret(app: string, env: string, name: string): Promise<string> {
    if (!this.#d.secret)
      throw new BerthError('unavailable', 'no_secrets', 'managed databases need the secret store of berthd');
    return this.#d.secret(app, env, name, newPassword);
  }

  /**
   * Everything before the server starts: its binaries found (or an error naming the package),
   * its directories, its password, the cluster made once (initdb) or Redis's config written.
   * Returns the argv to launch, its working directory and user.
   */
  async prepare(v: InstanceView, spec: ServiceSpec): Promise<PreparedDatabase> {
    if (!isDatabase(spec) || !spec.database || v.port === null)
      throw new Error(`instance ${v.id} is not a database with a port`);
    const fromImage = spec.database.image !== undefined;
    const bin = fromImage ? undefined : databaseBinaries(spec.database, spec.name);
    const ids = await this.runAs(v.app, v.env);
    const dir = databaseDir(this.#d.layout, v.app, v.env, v.service);
    const top = path.dirname(dir);
    if (this.#d.users?.enabled || !ids) ownDir(top, ids);
    else {
      mkdirSync(top, { recursive: true, mode: 0o711 });
      chownPath(top, { uid: 0, gid: 0, mode: () => 0o711 });
    }
    ownDir(dir, ids);
    const sockets = socketDir(this.#d.layout, v.app, v.env, v.service);
    mkdirSync(path.dirname(sockets), { recursive: true, mode: 0o711 });
    if (ids) chownPath(path.dirname(sockets), { uid: 0, gid: 0, mode: () => 0o711 });
    ownDir(sockets, ids);
    const password = await this.password(v.app, v.env, v.service);
    this.#passwords.set(v.id, password);
    const env = { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8', HOME: dir };
    const db = spec.database;
    if (db.engine === 'postgres' && bin) {
      assertClusterVersion(dir, db.version, spec.name, bin.dir);
      await initCluster(hostInitdb(bin, ids), dir, ids, password);
      return { argv: postgresArgv(bin.server, dir, v.port, sockets), cwd: dir, ids, env };
    }
    if (db.engine === 'postgres') {
      const image = this.#imageCluster(v, spec, dir, sockets, ids);
      await this.#d.runner?.assertImage(image.image);
      writeImageFiles(image);
      const from = `the image ${db.image as string}`;
      assertClusterVersion(dir, db.version, spec.name, from);
      const name = `${containerName(image.home, { ...v, instance: v.id })}-initdb`;
      if (await initCluster(imageInitdb(image, name), dir, ids, password))
        assertClusterVersion(dir, db.version, spec.name, from);
      const argv = [...postgresArgv('postgres', dir, v.port, sockets, '*'), ...imageHbaArgs(image)];
      return { argv, cwd: dir, ids, env, image };
    }
    const conf = writeRedisConfig(dir, ids, { port: v.port, sockets, password });
    return { argv: redisArgv(bin as NonNullable<typeof bin>, conf), cwd: dir, ids, env };
  }

  /** Where and as whom the image's cluster runs (see postgres-image.ts); an error naming the setting without an engine. */
  #imageCluster(
    v: InstanceView,
    spec: ServiceSpec,
    dir: string,
    sockets: string,
    ids: UnixIds | undefined,
  ): ImageCluster {
    const runner = this.#d.runner;
    if (!runner)
      throw new BerthError(
        'unavailable',
        'no_container_engine',
        `service "${spec.name}" runs PostgreSQL from the image ${spec.database?.image ?? ''}, and this host has no container engine`,
        {
          hint: `install Docker (apt-get install docker.io) and set container_engine in config.yaml, or remove image: to run the host's postgresql-${spec.database?.version ?? ''}`,
        },
      );
    return {
      engine: runner.engine,
      home: this.#d.home ?? '',
      image: spec.container?.imageId ?? (spec.database?.image as string),
      dataDir: this.#d.layout.dataDir(v.app, v.env),
      dir,
      sockets,
      ids: ids ?? { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 },
    };
  }

  /**
   * After its first start: a PostgreSQL made for a preview restores the copy of the other
   * environment's database (made in the deploy's copy data step). Returns whether it did.
   */
  async restoreSeed(v: InstanceView, spec: ServiceSpec, restored?: (section: string) => void): Promise<boolean> {
    if (spec.database?.engine !== 'postgres' || v.port === null) return false;
    return restoreSeed(
      databaseBinaries(spec.database, spec.name, 'tools'),
      databaseDir(this.#d.layout, v.app, v.env, v.service),
      {
        port: v.port,
        sockets: socketDir(this.#d.layout, v.app, v.env, v.service),
        password: await this.password(v.app, v.env, v.service),
        ids: await this.runAs(v.app, v.env),
      },
      restored,
    );
  }

  /** Its own protocol: a startup message answered (PostgreSQL, as pg_isready), AUTH and PING (Redis). */
  async probe(id: number, spec: ServiceSpec, port: number | null): Promise<ProbeResult> {
    if (port === null) return { ok: false, reason: 'no port' };
    if (spec.kind === 'postgres') return postgresProbe(port, POSTGRES_USER, POSTGRES_DATABASE);
    let password = this.#passwords.get(id);
    if (password === undefined) {
      const v = await this.#d.store.instances.get(id); // adopted after a restart of berthd
      if (!v) return { ok: false, reason: 'instance removed' };
      password = await this.password(v.app, v.env, v.service);
      this.#passwords.set(id, password);
    }
    return redisProbe(port, password);
  }

  /** Forgets a removed instance's password. */
  forget(id: number): void {
    this.#passwords.delete(id);
  }

  /** Whether the database runs in a container (PostgreSQL with `image:`): the engine stops and follows it. */
  static inContainer(spec: ServiceSpec): boolean {
    return isDatabase(spec) && spec.database?.image !== undefined;
  }

  /** The signal of a fast shutdown, sent to the server alone: SIGINT for PostgreSQL (SIGTERM would wait for every client), SIGTERM for Redis (it saves, then exits). */
  stopSignal(spec: ServiceSpec): NodeJS.Signals {
    return spec.kind === 'postgres' ? 'SIGINT' : 'SIGTERM';
  }
}
