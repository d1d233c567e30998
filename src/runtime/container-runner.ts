import { EventEmitter } from 'node:events';
import { lchownSync, lstatSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { ServiceSpec } from '../config/manifest-types.js';
import { BerthError } from '../core/errors.js';
import { procStat } from '../system/proc.js';
import { ContainerEngine, engineSocket, EngineError } from './container-engine.js';
import { followLogs } from './container-logs.js';
import { containerConfig, type ContainerIdentity } from './container-config.js';
import { ContainerNetworks } from './container-networks.js';
import type { RotationOptions } from './log-writer.js';
import type { Spawned } from './spawner.js';

/** A started container, as the instance manager sees a process (its init's pid), with its id and address. */
export interface LaunchedContainer extends Spawned {
  readonly id: string;
  /** Its address on the app environment's network (probes connect there: it proves the container listens). */
  readonly ip: string;
}

/** How long a stop waits for the output of a stopped container to reach its log before removing it. */
const LOG_SETTLE_MS = 5000;

interface Listed {
  Id: string;
  Names: string[];
  State: string;
  Labels: Record<string, string>;
}

interface Inspected {
  Id: string;
  State: { Running: boolean; Pid: number; ExitCode: number };
  NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
}

/**
 * Runs the container instances of one BERTH_HOME on an engine: created with restart policy "no"
 * (restarts are Berth's, by the service's policy), labelled, started, their exit awaited and their
 * output followed into the instance's log file; stopped and removed. A container is found again
 * by its label `berth.instance` (the instance marker), so a restarted berthd adopts it.
 */
export class ContainerRunner {
  readonly #engine: ContainerEngine;
  readonly #home: string;
  /** The per app-environment networks: its services reach each other by name, and no other app's. */
  readonly networks: ContainerNetworks;

  constructor(engine: ContainerEngine, home: string) {
    this.#engine = engine;
    this.#home = home;
    this.networks = new ContainerNetworks(engine, home);
  }

  get engine(): ContainerEngine {
    return this.#engine;
  }

  async launch(o: {
    who: ContainerIdentity;
    spec: ServiceSpec;
    hostPort: number | null;
    env: Readonly<Record<string, string>>;
    dataDir: string;
    logFile: string;
    rotation?: RotationOptions | undefined;
    uid?: number | undefined;
    gid?: number | undefined;
  }): Promise<LaunchedContainer> {
    const c = o.spec.container;
    const image = c?.imageId ?? c?.image;
    if (!c || !image)
      throw new BerthError('invalid', 'container_image_missing', `service "${o.spec.name}" has no image to run`, {
        hint: 'give it `image:`, or `build:` in its object form (built by `berth deploy`)',
      });
    return this.launchWith({ ...o, image }, (network) =>
      containerConfig({
        who: o.who,
        home: this.#home,
        spec: o.spec,
        network,
        env: o.env,
        mounts: c.volumes.map((v) => ({ target: v.target, source: volumeDir(o.dataDir, v.name, o.uid, o.gid) })),
        hostPort: o.hostPort,
      }),
    );
  }

  /** Starts (a leftover of its name removed) and follows the container `config` makes for the environment's network. */
  async launchWith(
    o: {
      who: ContainerIdentity;
      image: string;
      logFile: string;
      rotation?: RotationOptions | undefined;
      uid?: number | undefined;
      gid?: number | undefined;
    },
    config: (network: string) => Record<string, unknown>,
  ): Promise<LaunchedContainer> {
    const network = (await this.networks.ensure(o.who.app, o.who.env)).name;
    await this.assertImage(o.image);
    const name = containerName(this.#home, o.who);
    await this.#removeOld(name, o.logFile, { rotation: o.rotation, uid: o.uid, gid: o.gid });
    const { Id } = await this.#engine.call<{ Id: string }>('POST', `/containers/create?name=${name}`, config(network));
    await this.#engine.call('POST', `/containers/${Id}/start`);
    return this.#follow(Id, network, o.logFile, { rotation: o.rotation, uid: o.uid, gid: o.gid, resume: false });
  }

  /** Watches a container this daemon did not start (adoption): its exit, and its output from where the file stopped. */
  async adopt(
    id: string,
    who: ContainerIdentity,
    logFile: string,
    log: { rotation?: RotationOptions | undefined; uid?: number | undefined; gid?: number | undefined },
  ): Promise<LaunchedContainer> {
    return this.#follow(id, this.networks.nameOf(who.app, who.env), logFile, { ...log, resume: true });
  }

  /** The running containers of this BERTH_HOME, by instance marker: their id and their init's pid on this host. */
  async running(): Promise<Map<string, { id: string; pid: number }>> {
    const found = new Map<string, { id: string; pid: number }>();
    for (const c of await this.#list({ label: [`berth.home=${this.#home}`], status: ['running'] })) {
      const info = await this.#inspect(c.Id).catch(() => undefined);
      const marker = c.Labels['berth.instance'];
      if (marker !== undefined && info?.State.Running) found.set(marker, { id: c.Id, pid: info.State.Pid });
    }
    return found;
  }

  /**
   * Removes every container of this BERTH_HOME whose instance marker is not in `known` (its
   * instance is gone: removed while the engine did not answer, say); returns their names. A Swarm
   * task's container (on a manager that is also a node: scheduler swarm) is Swarm's, never removed here.
   */
  async sweep(known: ReadonlySet<string>): Promise<string[]> {
    const removed: string[] = [];
    for (const c of await this.#list({ label: [`berth.home=${this.#home}`] })) {
      if (known.has(c.Labels['berth.instance'] ?? '') || c.Labels['com.docker.swarm.task.id'] !== undefined) continue;
      await this.#engine.call('DELETE', `/containers/${c.Id}?force=true&v=true`).catch(ignoreMissing);
      removed.push(c.Names[0]?.replace(/^\//, '') ?? c.Id);
    }
    return removed;
  }

  /**
   * The instance's container that ended while nobody followed it (berthd was away): what it wrote
   * since the log file's last write is appended to it, and its exit code told; undefined when none ended.
   */
  async ended(
    marker: string,
    logFile: string,
    log: { rotation?: RotationOptions | undefined; uid?: number | undefined; gid?: number | undefined },
  ): Promise<{ code: number } | undefined> {
    const [c] = await this.#list({ label: [`berth.instance=${marker}`], status: ['exited', 'dead'] });
    if (!c) return undefined;
    const info = await this.#inspect(c.Id);
    await followLogs(this.#engine, c.Id, logFile, { ...log, resume: true });
    return { code: info.State.ExitCode };
  }

  /**
   * Stops the instance's container (SIGTERM, SIGKILL after `timeoutMs`) and removes it once
   * `logged` (its output's follower) is done, so its last lines are in its log; 'none' when there was none.
   */
  async stop(marker: string, timeoutMs: number, logged?: Promise<void>): Promise<'none' | 'terminated' | 'killed'> {
    let how: 'none' | 'terminated' | 'killed' = 'none';
    for (const c of await this.#list({ label: [`berth.instance=${marker}`] })) {
      if (c.State === 'running') {
        await this.#engine
          .call('POST', `/containers/${c.Id}/stop?t=${Math.ceil(timeoutMs / 1000)}`)
          .catch(ignoreMissing);
        const after = await this.#inspect(c.Id).catch(() => undefined);
        how = after?.State.ExitCode === 137 ? 'killed' : 'terminated';
      }
      if (logged) await Promise.race([logged, new Promise((r) => setTimeout(r, LOG_SETTLE_MS).unref())]);
      await this.#engine.call('DELETE', `/containers/${c.Id}?force=true&v=true`).catch(ignoreMissing);
    }
    return how;
  }

  /**
   * A container of the instance left from before (berthd or the engine was away when it ended):
   * what it wrote that is not in the log yet is added, then it is removed.
   */
  async #removeOld(name: string, logFile: string, log: Parameters<ContainerRunner['ended']>[2]): Promise<void> {
    const old = await this.#inspect(name).catch((err: unknown) => ignoreMissing(err));
    if (!old) return;
    if (!old.State.Running) await followLogs(this.#engine, old.Id, logFile, { ...log, resume: true });
    await this.#engine.call('DELETE', `/containers/${old.Id}?force=true&v=true`).catch(ignoreMissing);
  }

  /** This engine's containers (stopped ones too) matching `filters`. */
  #list(filters: Record<string, string[]>): Promise<Listed[]> {
    const q = encodeURIComponent(JSON.stringify(filters));
    return this.#engine.call<Listed[]>('GET', `/containers/json?all=true&filters=${q}`);
  }

  async #follow(
    id: string,
    network: string,
    logFile: string,
    log: {
      rotation?: RotationOptions | undefined;
      uid?: number | undefined;
      gid?: number | undefined;
      resume: boolean;
    },
  ): Promise<LaunchedContainer> {
    const info = await this.#inspect(id);
    const child = new EventEmitter();
    const logged = followLogs(this.#engine, id, logFile, log);
    void this.#wait(id).then((code) => child.emit('exit', code, null));
    const pid = info.State.Pid;
    return {
      id,
      pid,
      startTicks: procStat(pid)?.startTicks ?? '',
      child,
      logged,
      ip: info.NetworkSettings.Networks[network]?.IPAddress ?? '',
    };
  }

  /** Resolves with the container's exit code once it is not running (null when it is gone without one). */
  async #wait(id: string): Promise<number | null> {
    for (let delay = 250; ; delay = Math.min(delay * 2, 5000)) {
      try {
        const r = await this.#engine.call<{ StatusCode: number }>(
          'POST',
          `/containers/${id}/wait?condition=not-running`,
        );
        return r.StatusCode;
      } catch (err) {
        if (err instanceof EngineError && err.status === 404) return null;
        await new Promise((r) => setTimeout(r, delay)); // the engine restarts: ask again
      }
    }
  }

  #inspect(id: string): Promise<Inspected> {
    return this.#engine.call<Inspected>('GET', `/containers/${id}/json`);
  }

  /** An error naming `image` when the engine does not have it (deploy pulls it). */
  async assertImage(image: string): Promise<void> {
    try {
      await this.#engine.call('GET', `/images/${encodeURIComponent(image)}/json`);
    } catch (err) {
      if (!(err instanceof EngineError) || err.status !== 404) throw err;
      throw new BerthError('failed', 'image_missing', `image ${image} is not on this host's container engine`, {
        hint: image.startsWith('sha256:')
          ? 'the image this release recorded was removed from the engine: deploy again (berth deploy) to pull or build it'
          : 'deploy again (berth deploy pulls it), or build or load it on the engine',
      });
    }
  }
}

/**
 * The runner for the engine of the host setting `container_engine` (default the Docker socket
 * when it exists); undefined without one. Nothing connects until a container service needs it.
 */
export function containerRunner(setting: string | undefined, home: string): ContainerRunner | undefined {
  const socket = engineSocket(setting);
  return socket === undefined ? undefined : new ContainerRunner(new ContainerEngine(socket), home);
}

export function containerName(
  home: string,
  w: Pick<ContainerIdentity, 'app' | 'env' | 'service' | 'instance'>,
): string {
  return `berth-${home}-${w.app}-${w.env}-${w.service}-${w.instance}`;
}

/**
 * $DATA_DIR/<name>, made if missing, and a real directory: the app may write $DATA_DIR, and a
 * link there must not make the engine mount whatever it points at.
 */
function volumeDir(dataDir: string, name: string, uid?: number, gid?: number): string {
  const dir = path.join(dataDir, name);
  try {
    mkdirSync(dir, { mode: 0o750 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const st = lstatSync(dir);
  if (!st.isDirectory())
    throw new BerthError('invalid', 'volume_not_directory', `volume ${name}: ${dir} is not a directory (a link?)`, {
      hint: `remove ${dir}: Berth mounts only real directories of $DATA_DIR`,
    });
  if (uid !== undefined && st.uid === 0) lchownSync(dir, uid, gid ?? uid);
  return dir;
}

function ignoreMissing(err: unknown): void {
  if (err instanceof EngineError && (err.status === 404 || err.status === 304)) return;
  throw err;
}
