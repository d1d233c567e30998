import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { ServiceSpec } from '../config/manifest-types.js';
import { BerthError } from '../core/errors.js';
import { Limiter } from '../core/limiter.js';
import { launch, type ProcessRef } from '../runtime/process-runner.js';
import type { Spawned } from '../runtime/spawner.js';
import type { InstanceView } from '../store/instances-repo.js';
import type { Handle, InstanceCore } from './instance-core.js';
import { assertRunnable, explainSpawnError, instanceEnv, launchEnv, serviceCwd } from './launch-env.js';
import { LaunchMemo } from './launch-memo.js';
import { databaseEnv, isDatabase } from './databases/connection.js';
import { MARKER_ENV } from '../runtime/process-runner.js';
import { depsEnv } from './deploy/deps-steps.js';
import { serverConfig } from './databases/postgres-image.js';

/**
 * Instances starting at once (the rest wait). A spawn is synchronous (fork and exec, ~7 ms here), so
 * more at once buys little; what wakes together runs in one turn of the event loop, which other
 * requests wait for: 4 keeps a turn near 60 ms during a 1,000-service wave.
 */
const SPAWN_CONCURRENCY = 4;

/** What a new process is handed to once it runs: its health watch and its exit. */
export interface SpawnHooks {
  watchHealth(id: number, port: number | null, h: Handle, spec: ServiceSpec, phase: 'starting' | 'healthy'): void;
  onExit(id: number, ref: ProcessRef, code: number | null, signal: string | null): Promise<void>;
}

/** Starting an instance's process: its port lease, its directories and environment, the launch itself. */
export class InstanceSpawns {
  readonly #core: InstanceCore;
  readonly #hooks: SpawnHooks;
  readonly #spawnSlots = new Limiter(SPAWN_CONCURRENCY);

  constructor(core: InstanceCore, hooks: SpawnHooks) {
    this.#core = core;
    this.#hooks = hooks;
  }

  /**
   * Starts the instance's process. At most SPAWN_CONCURRENCY start at once, whoever asks (a
   * 1,000-service wave, the adoption at boot, restarts): the rest queue, each in its own lock,
   * and each start waits for a turn of the event loop.
   */
  spawn(v: InstanceView, restartsDelta: number, memo = new LaunchMemo()): Promise<void> {
    return this.#spawnSlots.run(async () => {
      // A wave is one long chain of promises (the store answers at once, a spawn emits on the next
      // tick): without a turn of the event loop between spawns, no request (`berth ps`), timer or
      // exit event would be served until the last of 1,000 instances had started.
      await new Promise((r) => setImmediate(r));
      await this.#spawnNow(v, restartsDelta, memo);
    });
  }

  async #spawnNow(v: InstanceView, restartsDelta: number, memo: LaunchMemo): Promise<void> {
    const c = this.#core;
    const spec = JSON.parse(v.spec) as ServiceSpec;
    await c.transition(v, 'starting', { pid: null, start_ticks: null, restarts: v.restarts + restartsDelta });
    const starting = { ...v, state: 'starting', restarts: v.restarts + restartsDelta };
    const port = v.port;
    const other =
      port === null ? undefined : await c.store.write((r) => r.leases.claim(c.host, port, v.id, Date.now()));
    if (other) {
      const why = `port ${port} is leased to ${other.app}/${other.env}/${other.service}`;
      await c.transition(starting, 'failed', {
        last_exit: JSON.stringify({ code: null, signal: null, at: Date.now(), note: `could not start: ${why}` }),
      });
      throw new BerthError('conflict', 'port_taken', `starting ${v.app}/${v.service}[${v.idx}]: ${why}`, {
        hint: `see berth doctor; redeploy ${v.app} to give it a free port`,
      });
    }
    let launched;
    let cwd = v.rootDir;
    try {
      cwd = serviceCwd(v.rootDir, spec);
      const dataDir = c.layout.dataDir(v.app, v.env);
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      const logFile = c.logFile(v);
      mkdirSync(path.dirname(logFile), { recursive: true, mode: 0o750 });
      const users = c.users;
      const ids = users && (await memo.get(`ids ${v.app} ${v.env}`, () => users.ids(v.app, v.env)));
      c.users?.leaf(ids, dataDir, 0o700);
      c.users?.rootDirs(ids, [path.dirname(logFile)]);
      if (isDatabase(spec)) launched = await this.#launchDatabase(v, spec, logFile);
      else {
        const connections =
          spec.dependsOn.length > 0
            ? await memo.get(`databases ${v.app} ${v.env}`, () => c.databases.connections(v.app, v.env))
            : [];
        const vars = launchEnv(
          spec,
          v.port,
          dataDir,
          c.marker(v.id),
          depsEnv(c.base, spec, cwd),
          await memo.get(`addresses ${v.releaseId}`, () => c.store.addresses.list({ releaseId: v.releaseId })),
          spec.kind === 'container' ? await c.containers.gateway(v, spec) : undefined,
        );
        const env = instanceEnv(vars, {
          databases: databaseEnv(spec, connections),
          home: ids && spec.env.HOME === undefined ? users.home(v.app, v.env) : undefined,
          secrets: await memo.get(`secrets ${v.app} ${v.env}`, async () => c.secretEnv?.(v.app, v.env)),
        });
        if (spec.kind === 'container')
          launched = await c.containers.launch(v, spec, { env, dataDir, logFile, uid: ids?.uid, gid: ids?.gid });
        else assertRunnable(spec, cwd, env);
        const cgroups = spec.kind === 'container' ? [] : c.limits.join(v, spec);
        launched ??= await launch({
          cgroups,
          argv: spec.argv,
          cwd,
          env,
          logFile,
          rotation: c.rotation,
          uid: ids?.uid,
          gid: ids?.gid,
        });
        c.users?.ownFile(ids, logFile, 0o640);
      }
      c.logged.set(v.id, launched.logged);
    } catch (err) {
      const why = explainSpawnError(err, spec, cwd);
      await c.transition(starting, 'failed', {
        last_exit: JSON.stringify({ code: null, signal: null, at: Date.now(), note: `could not start: ${why}` }),
      });
      throw new BerthError('failed', 'start_failed', `starting ${v.app}/${v.service}[${v.idx}]: ${why}`, {
        cause: err,
        hint: err instanceof BerthError && err.hint ? err.hint : `fix services.${v.service}.run in berth.yaml`,
      });
    }
    const prev = c.handles.get(v.id);
    const handle: Handle = {
      ref: { pid: launched.pid, startTicks: launched.startTicks },
      child: launched.child,
      startedAt: Date.now(),
      failures: prev?.failures ?? 0,
      timer: undefined,
      health: undefined,
      retired: false,
    };
    c.handles.set(v.id, handle);
    launched.child.once('exit', (code, signal) => void this.#hooks.onExit(v.id, handle.ref, code, signal));
    await c.store.batched((r) =>
      r.instances.update(v.id, {
        pid: handle.ref.pid,
        start_ticks: handle.ref.startTicks,
        started_at: handle.startedAt,
      }),
    );
    this.#hooks.watchHealth(v.id, v.port, handle, spec, 'starting');
  }

  /** A managed database: its own argv, directory, user and a bare environment (see engine/databases). */
  async #launchDatabase(v: InstanceView, spec: ServiceSpec, logFile: string): Promise<Spawned> {
    const c = this.#core;
    const db = await c.databases.prepare(v, spec);
    const image = db.image;
    if (image) {
      // PostgreSQL from an image: a container of its own (engine/databases/postgres-image); the engine applies its limits.
      const port = v.port as number;
      const launched = await c.containers.launchWith(
        v,
        spec,
        { image: image.image, logFile, uid: db.ids?.uid, gid: db.ids?.gid },
        (network, who) =>
          serverConfig(image, { argv: db.argv, who, network, port, stopTimeoutMs: spec.stopTimeoutMs }, spec.resources),
      );
      c.users?.ownFile(db.ids, logFile, 0o640);
      return launched;
    }
    const launched = await launch({
      cgroups: c.limits.join(v, spec),
      argv: db.argv,
      cwd: db.cwd,
      env: { ...db.env, [MARKER_ENV]: c.marker(v.id) },
      logFile,
      rotation: c.rotation,
      uid: db.ids?.uid,
      gid: db.ids?.gid,
    });
    c.users?.ownFile(db.ids, logFile, 0o640);
    return launched;
  }
}
