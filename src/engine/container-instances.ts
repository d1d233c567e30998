import type { Logger } from 'pino';
import type { ServiceSpec } from '../config/manifest-types.js';
import { BerthError } from '../core/errors.js';
import { containerProbe, type ProbeResult } from '../health/probes.js';
import { DEFAULT_ENGINE_SOCKET } from '../runtime/container-engine.js';
import type { ContainerRunner, LaunchedContainer } from '../runtime/container-runner.js';
import type { ContainerIdentity } from '../runtime/container-config.js';
import type { RotationOptions } from '../runtime/log-writer.js';
import type { ProcessRef } from '../runtime/process-runner.js';
import type { InstanceView } from '../store/instances-repo.js';
import { procStat } from '../system/proc.js';

/**
 * The container kind of instance, at the instance manager's seams: launch (instead of a
 * spawn), stop (instead of signals), probe (the container's own address), and the live
 * containers found by label at boot (adoption). Everything else (states, restarts, health
 * gates, blue-green) is the instance manager's, the same for both kinds.
 */
export class ContainerInstances {
  readonly #runner: ContainerRunner | undefined;
  readonly #rotation: RotationOptions | undefined;
  readonly #markerOf: (id: number) => string;
  readonly #log: Logger | undefined;
  /** Each supervised container's address on its network, by instance id (for probes). */
  readonly #addresses = new Map<number, string>();
  /** Each followed container's output, by instance id: settles once all of it is in the log file. */
  readonly #logged = new Map<number, Promise<void>>();

  constructor(deps: {
    runner: ContainerRunner | undefined;
    rotation?: RotationOptions | undefined;
    marker: (id: number) => string;
    log?: Logger;
  }) {
    this.#log = deps.log;
    this.#runner = deps.runner;
    this.#rotation = deps.rotation;
    this.#markerOf = deps.marker;
  }

  async launch(
    v: InstanceView,
    spec: ServiceSpec,
    o: { env: Readonly<Record<string, string>>; dataDir: string; logFile: string; uid?: number; gid?: number },
  ): Promise<LaunchedContainer> {
    const launched = await this.#need(spec).launch({
      who: this.#who(v),
      spec,
      hostPort: v.port,
      env: containerEnv(spec, o.env),
      dataDir: o.dataDir,
      logFile: o.logFile,
      rotation: this.#rotation,
      uid: o.uid,
      gid: o.gid,
    });
    this.#addresses.set(v.id, launched.ip);
    this.#logged.set(v.id, launched.logged);
    return launched;
  }

  /**
   * Launches the instance's container with the create request `config` makes (a managed
   * database's, see engine/databases/postgres-image), then follows it as launch() does.
   */
  async launchWith(
    v: InstanceView,
    spec: ServiceSpec,
    o: { image: string; logFile: string; uid?: number; gid?: number },
    config: (network: string, who: ContainerIdentity) => Record<string, unknown>,
  ): Promise<LaunchedContainer> {
    const who = this.#who(v);
    const launched = await this.#need(spec).launchWith({ ...o, who, rotation: this.#rotation }, (network) =>
      config(network, who),
    );
    this.#addresses.set(v.id, launched.ip);
    this.#logged.set(v.id, launched.logged);
    return launched;
  }

  /**
   * The host's address on the network of `v`'s environment (made if missing; the proxy listens
   * there before this resolves): where a container reaches its dependencies' addresses.
   */
  async gateway(v: InstanceView, spec: ServiceSpec): Promise<string | undefined> {
    return (await this.#need(spec).networks.ensure(v.app, v.env)).gateway;
  }

  /** Follows a container found running at boot: its exit, its output, its address. */
  async adopt(
    v: InstanceView,
    logFile: string,
    ids: { uid: number; gid: number } | undefined,
  ): Promise<LaunchedContainer | undefined> {
    const found = (await this.#runner?.running())?.get(this.#markerOf(v.id));
    if (found === undefined || !this.#runner) return undefined;
    const c = await this.#runner.adopt(found.id, this.#who(v), logFile, {
      rotation: this.#rotation,
      uid: ids?.uid,
      gid: ids?.gid,
    });
    this.#addresses.set(v.id, c.ip);
    this.#logged.set(v.id, c.logged);
    return c;
  }

  /**
   * The instance's container that exited while berthd was away: its output since then is added
   * to its log, and its exit code told (undefined when there is none, or no engine).
   */
  async ended(
    v: InstanceView,
    logFile: string,
    ids: { uid: number; gid: number } | undefined,
  ): Promise<{ code: number } | undefined> {
    return this.#runner?.ended(this.#markerOf(v.id), logFile, {
      rotation: this.#rotation,
      uid: ids?.uid,
      gid: ids?.gid,
    });
  }

  /**
   * The init process of each running container of this BERTH_HOME, by instance marker; none
   * without an engine. Containers of this home whose instance is not in `instances` (all the store
   * knows) are removed: nothing would ever stop them, and their port is no longer leased.
   */
  async live(instances: readonly InstanceView[]): Promise<Map<string, ProcessRef>> {
    const refs = new Map<string, ProcessRef>();
    if (!this.#runner) return refs;
    const containers = instances.some((v) => runsInContainer(JSON.parse(v.spec) as ServiceSpec));
    try {
      const removed = await this.#runner.sweep(new Set(instances.map((v) => this.#markerOf(v.id))));
      if (removed.length > 0) this.#log?.warn({ containers: removed }, 'removed containers of no instance');
    } catch (err) {
      if (containers) throw err;
      return refs; // an engine that does not answer, and no container to run: nothing to say
    }
    if (!containers) return refs;
    for (const [marker, { pid }] of await this.#runner.running()) {
      const st = procStat(pid);
      if (st) refs.set(marker, { pid, startTicks: st.startTicks });
    }
    return refs;
  }

  /**
   * Stops and removes the instance's container. An engine that does not answer runs nothing Berth
   * could stop: 'none' (a container it still has is removed by name at the instance's next start).
   */
  async stop(id: number, timeoutMs: number): Promise<'none' | 'terminated' | 'killed'> {
    this.#addresses.delete(id);
    const logged = this.#logged.get(id);
    this.#logged.delete(id);
    if (!this.#runner) return 'none';
    try {
      return await this.#runner.stop(this.#markerOf(id), timeoutMs, logged);
    } catch (err) {
      if (err instanceof BerthError && err.code === 'container_engine_down') return 'none';
      throw err;
    }
  }

  probe(id: number, spec: ServiceSpec, port: number | null, alive: () => boolean): Promise<ProbeResult> {
    return containerProbe(spec.health.probe, {
      port,
      address: this.#addresses.get(id),
      containerPort: spec.container?.port ?? null,
      alive,
    });
  }

  #need(spec: ServiceSpec): ContainerRunner {
    if (this.#runner) return this.#runner;
    throw new BerthError(
      'unavailable',
      'no_container_engine',
      `service "${spec.name}" runs a container, and this host has no container engine`,
      {
        hint: `install Docker (apt-get install docker.io) or start Podman's service, and set container_engine in config.yaml (or BERTH_CONTAINER_ENGINE) to its unix:// socket; default ${DEFAULT_ENGINE_SOCKET} when it exists`,
      },
    );
  }

  #who(v: InstanceView) {
    return {
      app: v.app,
      env: v.env,
      service: v.service,
      release: v.release,
      instance: v.id,
      marker: this.#markerOf(v.id),
    };
  }
}

/**
 * What a container gets of an instance's environment: the manifest's env, dependencies, marker
 * and secrets, with PORT the port it listens on inside. The host's PATH, HOME and $DATA_DIR mean
 * nothing in its image (its volumes are where its data goes), unless the manifest sets them.
 */
export function containerEnv(spec: ServiceSpec, env: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = { ...env };
  for (const key of ['PATH', 'HOME', 'DATA_DIR', 'PORT']) if (spec.env[key] === undefined) delete out[key];
  if (spec.container?.port != null) out.PORT = String(spec.container.port);
  return out;
}

/** Whether the instance of `spec` is a container of the engine: an `image:` service, or a PostgreSQL run from an image. */
export function runsInContainer(spec: ServiceSpec): boolean {
  return spec.kind === 'container' || (spec.kind === 'postgres' && spec.database?.image !== undefined);
}
