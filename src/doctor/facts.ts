import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { findCertificates, type CertificateFact } from './checks/tls.js';
import type { Manifest } from '../config/manifest-types.js';
import type { RouteTable } from '../proxy/route-table.js';
import type { EdgeRoute, TlsHandshake } from '../proxy/proxy.js';
import type { InstanceView } from '../store/instances-repo.js';
import type { LeaseOwner } from '../store/leases-repo.js';
import type { EnvironmentRow } from '../store/apps-repo.js';
import type { ReleaseRow } from '../store/releases-repo.js';
import type { Store } from '../store/store.js';
import { procFiles, scanHost, type ProcFiles, type ProcessFact } from './host-scan.js';
import { storedManifest } from '../config/stored-manifest.js';
import type { LeftoverProcess } from '../core/results.js';
import type { EngineDisk } from '../engine/engine-disk.js';
import type { EngineFirewall } from '../engine/engine-firewall.js';
import type { BackupRow } from '../store/backups-repo.js';
import type { SwarmFacts } from './swarm-facts.js';
import type { Listener } from '../system/sockets.js';

export type { ProcessFact } from './host-scan.js';

/**
 * Everything the checks compare, read once: the store (what should be), the host
 * (listeners and who holds them, processes and their markers, files) and the proxy's
 * live table. Checks are pure functions of this.
 */
export interface Facts {
  readonly home: string;
  readonly markerPrefix: string;
  readonly apps: readonly string[];
  readonly environments: readonly EnvironmentRow[];
  readonly releases: readonly ReleaseRow[];
  readonly instances: readonly InstanceView[];
  readonly leases: readonly LeaseOwner[];
  /**
   * port -> processes listening on it (empty array: a listener we cannot attribute), for the ports
   * the checks look at: leased and pinned ports, and the upstreams of the proxy's routes.
   */
  readonly listening: ReadonlyMap<number, readonly ProcessFact[]>;
  /** Every local port something listens on. */
  readonly listeningPorts: ReadonlySet<number>;
  /** Live processes carrying this BERTH_HOME's instance marker. */
  readonly processes: readonly ProcessFact[];
  /** The recorded pids of instances whose process is alive, with its start time (clock ticks since boot). */
  readonly startTicks: ReadonlyMap<number, string>;
  /** The table the proxy serves, or undefined when it does not answer. */
  readonly proxyTable: RouteTable | undefined;
  /** The current release's manifest per environment id. */
  readonly manifests: ReadonlyMap<number, Manifest>;
  readonly logFile: (v: InstanceView) => string;
  /** Certificates the edge serves (certbot's for nginx, Caddy's storage). */
  readonly certificates: readonly CertificateFact[];
  readonly now: number;
  /** With Caddy or nginx in front: their routes, read back from their live config. */
  readonly edgeRoutes: readonly EdgeRoute[];
  /** A TLS handshake with the edge for every host a current release serves with TLS (none without a TLS edge). */
  readonly tlsHandshakes: readonly TlsHandshake[];
  /** Processes of this BERTH_HOME's proxy besides the ones Berth runs. */
  readonly proxyLeftovers: readonly LeftoverProcess[];
  /** The container engine's disk use and the host's threshold; undefined when no current release runs a container. */
  readonly engineDisk?: { readonly use: EngineDisk; readonly warnAt: number } | undefined;
  /** Whether Docker writes the rules that keep apps' networks apart; undefined as engineDisk, or for Podman. */
  readonly engineFirewall?: EngineFirewall | undefined;
  /** Backups per environment id, newest first. */
  readonly backups: ReadonlyMap<number, readonly BackupRow[]>;
  /**
   * A real time (ms) on the clock backup schedules run on: the same on a host; ahead and faster when a
   * test shortens a minute (BERTH_CRON_MINUTE_MS), so a backup is judged late on the clock that made it due.
   */
  readonly scheduleTime?: ((real: number) => number) | undefined;
  /** The swarm berthd's container engine manages (swarm-facts.ts); undefined without one. */
  readonly swarm?: SwarmFacts | undefined;
}

export async function gatherFacts(o: {
  store: Store;
  home: string;
  markerPrefix: string;
  proxyTable: RouteTable | undefined;
  logFile: (v: InstanceView) => string;
  certDir?: string | undefined;
  edgeRoutes?: readonly EdgeRoute[];
  tlsHandshakes?: ((hosts: readonly string[]) => Promise<TlsHandshake[]>) | undefined;
  proxyLeftovers?: readonly LeftoverProcess[] | undefined;
  /** How /proc is read (a test counts the reads). */
  proc?: ProcFiles;
  /** The listening TCP sockets, asked of berthd's launcher (runtime/listen-table.ts); default: /proc/net/tcp and tcp6. */
  listeners?: (() => Promise<Listener[]>) | undefined;
  /** For one app's findings (a deploy's pre-flight): TLS handshakes only with that app's hosts. */
  app?: string | undefined;
  /** The container engine's disk use (GET /system/df), and `container_disk_warn`: asked only when containers run. */
  engineDisk?: { readonly read: () => Promise<EngineDisk>; readonly warnAt: number } | undefined;
  /** The engine's firewall (engine-firewall.ts): asked only when containers run. */
  engineFirewall?: (() => Promise<EngineFirewall | undefined>) | undefined;
  /** The backup schedules' clock (Facts.scheduleTime). */
  scheduleTime?: ((real: number) => number) | undefined;
  /** The swarm's nodes, Berth's services and their tasks (readSwarm): undefined when the engine manages none. */
  swarm?: (() => Promise<SwarmFacts | undefined>) | undefined;
}): Promise<Facts> {
  const { store } = o;
  const [apps, environments, releases, instances, leases, backupRows] = await Promise.all([
    store.apps.names(),
    store.apps.environments(),
    store.releases.all(),
    store.instances.list(),
    store.leases.all(),
    store.backups.list(),
  ]);
  const backups = new Map<number, BackupRow[]>();
  for (const b of backupRows) backups.set(b.environmentId, [...(backups.get(b.environmentId) ?? []), b]);
  const manifests = new Map<number, Manifest>();
  for (const e of environments) {
    const r = releases.find((x) => x.id === e.currentReleaseId);
    if (r) manifests.set(e.id, storedManifest(r.manifest));
  }
  const ports = new Set<number>(leases.map((l) => l.port));
  for (const m of manifests.values())
    for (const spec of m.services) if (typeof spec.port === 'number') ports.add(spec.port);
  for (const r of o.proxyTable?.routes ?? []) for (const u of r.upstreams) ports.add(Number(u.split(':')[1]));
  const host = scanHost(
    {
      markerPrefix: o.markerPrefix,
      ports,
      pids: instances.flatMap((v) => (v.pid === null ? [] : [v.pid])),
      holdersOnly: o.app !== undefined,
      listening: await o.listeners?.(),
    },
    o.proc ?? procFiles,
  );
  const hosts = [
    ...new Set(
      [...manifests.values()].flatMap((m) =>
        m.services.flatMap((s) => s.routes.filter((r) => r.tls !== 'off').map((r) => r.host)),
      ),
    ),
  ];
  const certificates = findCertificates(hosts, o.certDir, path.join(o.home, 'caddy', 'data'));
  const appHosts =
    o.app === undefined
      ? hosts
      : [
          ...new Set(
            environments
              .filter((e) => e.app === o.app)
              .flatMap((e) => manifests.get(e.id)?.services ?? [])
              .flatMap((s) => s.routes.filter((r) => r.tls !== 'off').map((r) => r.host)),
          ),
        ];
  const tlsHandshakes = (await o.tlsHandshakes?.(appHosts).catch(() => [])) ?? [];
  const containers = [...manifests.values()].some((m) =>
    m.services.some((s) => s.kind === 'container' || s.database?.image !== undefined),
  );
  const engineDisk =
    o.app === undefined && containers && o.engineDisk
      ? await withTimeout(o.engineDisk.read(), 5000).then((use) => use && { use, warnAt: o.engineDisk?.warnAt ?? 0 })
      : undefined;
  const engineFirewall =
    o.app === undefined && containers && o.engineFirewall ? await withTimeout(o.engineFirewall(), 8000) : undefined;
  const swarm = o.swarm ? await withTimeout(o.swarm(), 8000) : undefined;
  return {
    home: o.home,
    markerPrefix: o.markerPrefix,
    apps,
    environments,
    releases,
    instances,
    leases,
    listening: host.listening,
    listeningPorts: host.listeningPorts,
    processes: host.marked,
    startTicks: host.startTicks,
    proxyTable: o.proxyTable,
    manifests,
    logFile: o.logFile,
    certificates,
    now: Date.now(),
    edgeRoutes: o.edgeRoutes ?? [],
    tlsHandshakes,
    proxyLeftovers: o.proxyLeftovers ?? [],
    engineDisk,
    engineFirewall,
    backups,
    scheduleTime: o.scheduleTime,
    swarm,
  };
}

/** The value, or undefined when it fails or takes longer than `ms` (an engine busy counting its disk). */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  return Promise.race([p.catch(() => undefined), late]).finally(() => clearTimeout(timer));
}

/** Names of the directories directly below `dir` (none when it does not exist). */
export function subdirs(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name);
}

export function describeProcess(p: ProcessFact): string {
  return `pid ${p.pid} (user ${p.user}): ${p.command || '?'}`;
}
