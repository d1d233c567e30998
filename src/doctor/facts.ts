import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { findCertificates, type CertificateFact } from './checks/tls.js';
import type { Manifest } from '../config/manifest-types.js';
import type { RouteTable } from '../proxy/route-table.js';
import type { EdgeRoute, TlsHandshake } from '../proxy/proxy.js';
import { MARKER_ENV } from '../runtime/process-runner.js';
import type { InstanceView } from '../store/instances-repo.js';
import type { LeaseOwner } from '../store/leases-repo.js';
import type { EnvironmentRow } from '../store/apps-repo.js';
import type { ReleaseRow } from '../store/releases-repo.js';
import type { Store } from '../store/store.js';
import { listPids, procArgv, procEnvValue, procSocketInodes, procStat, procUid, userName } from '../system/proc.js';
import { listeners } from '../system/sockets.js';
import { storedManifest } from '../config/stored-manifest.js';
import type { LeftoverProcess } from '../core/results.js';

/** A process as doctor reports it. */
export interface ProcessFact {
  readonly pid: number;
  readonly pgrp: number;
  readonly user: string;
  readonly command: string;
  readonly marker: string | undefined;
}

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
  /** port -> processes listening on it (empty array: a listener we cannot attribute). */
  readonly listening: ReadonlyMap<number, readonly ProcessFact[]>;
  readonly processes: readonly ProcessFact[];
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
}): Promise<Facts> {
  const { store } = o;
  const [apps, environments, releases, instances, leases] = await Promise.all([
    store.apps.names(),
    store.apps.environments(),
    store.releases.all(),
    store.instances.list(),
    store.leases.all(),
  ]);
  const manifests = new Map<number, Manifest>();
  for (const e of environments) {
    const r = releases.find((x) => x.id === e.currentReleaseId);
    if (r) manifests.set(e.id, storedManifest(r.manifest));
  }
  const socketOwners = new Map<string, number[]>();
  const processes: ProcessFact[] = [];
  for (const pid of listPids()) {
    const st = procStat(pid);
    if (!st || st.state === 'Z') continue;
    for (const inode of procSocketInodes(pid)) socketOwners.set(inode, [...(socketOwners.get(inode) ?? []), pid]);
    const uid = procUid(pid);
    processes.push({
      pid,
      pgrp: st.pgrp,
      user: uid === undefined ? '?' : userName(uid),
      command: procArgv(pid).join(' '),
      marker: procEnvValue(pid, MARKER_ENV),
    });
  }
  const byPid = new Map(processes.map((p) => [p.pid, p]));
  const listening = new Map<number, ProcessFact[]>();
  for (const l of listeners()) {
    const holders = (socketOwners.get(l.inode) ?? [])
      .map((pid) => byPid.get(pid))
      .filter((p): p is ProcessFact => p !== undefined);
    listening.set(l.port, [...(listening.get(l.port) ?? []), ...holders]);
  }
  const hosts = [
    ...new Set(
      [...manifests.values()].flatMap((m) =>
        m.services.flatMap((s) => s.routes.filter((r) => r.tls !== 'off').map((r) => r.host)),
      ),
    ),
  ];
  const certificates = findCertificates(hosts, o.certDir, path.join(o.home, 'caddy', 'data'));
  const tlsHandshakes = (await o.tlsHandshakes?.(hosts).catch(() => [])) ?? [];
  return {
    home: o.home,
    markerPrefix: o.markerPrefix,
    apps,
    environments,
    releases,
    instances,
    leases,
    listening,
    processes,
    proxyTable: o.proxyTable,
    manifests,
    logFile: o.logFile,
    certificates,
    now: Date.now(),
    edgeRoutes: o.edgeRoutes ?? [],
    tlsHandshakes,
    proxyLeftovers: o.proxyLeftovers ?? [],
  };
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
