import path from 'node:path';
import { findCertificates } from '../doctor/checks/tls.js';
import type { RouteCounters } from '../proxy/builtin/route-stats.js';
import type { Proxy } from '../proxy/proxy.js';
import type { DeployCounts } from '../store/metrics-repo.js';
import type { Store } from '../store/store.js';
import type { DoctorSummary } from './doctor-cache.js';
import { procUsage } from './proc-usage.js';

/** Upper bounds (seconds) of the deploy duration histogram. */
export const DEPLOY_BUCKETS = [1, 2.5, 5, 10, 30, 60, 120, 300, 600] as const;

/** One instance as /metrics and `berth top` see it. */
export interface InstanceSample {
  readonly app: string;
  readonly env: string;
  readonly service: string;
  readonly idx: number;
  readonly release: number;
  readonly state: string;
  readonly restarts: number;
  /** From its process's /proc files; absent when it has no live process. */
  readonly cpuSeconds?: number;
  readonly rssBytes?: number;
}

/** What berthd knows of the apps it runs at one moment. Host-wide parts are absent for a caller limited to organisations. */
export interface MetricsSnapshot {
  readonly at: number;
  readonly instances: readonly InstanceSample[];
  readonly routes: readonly RouteCounters[];
  readonly oomKills: ReadonlyArray<{ app: string; env: string; service: string; count: number }>;
  readonly host?: {
    readonly deploys: readonly DeployCounts[];
    readonly backups: ReadonlyArray<{ app: string; env: string; at: number }>;
    readonly certificates: ReadonlyArray<{ host: string; validTo: number }>;
    readonly doctor: DoctorSummary | undefined;
  };
}

export interface MetricsSources {
  readonly store: Store;
  readonly proxy: Proxy;
  readonly home: string;
  /** nginx's certificate directory (certbot's), when the edge is nginx. */
  readonly certDir: string | undefined;
  readonly doctor: () => DoctorSummary | undefined;
}

/**
 * Reads a snapshot: the store (instances, deploys, backups, OOM kills), each live instance's own
 * /proc files, the builtin proxy's route counters, certificate files Berth knows. `orgIds`: only
 * those organisations' apps, and nothing host-wide (undefined: the whole host).
 */
export async function collect(s: MetricsSources, orgIds?: readonly number[]): Promise<MetricsSnapshot> {
  const apps = orgIds === undefined ? undefined : new Set(await s.store.apps.names(orgIds));
  const mine = <T extends { app: string }>(rows: readonly T[]) => (apps ? rows.filter((r) => apps.has(r.app)) : rows);
  const { instances, routes } = await collectServices(s, orgIds, apps);
  const oomKills = mine(await s.store.metrics.oomKills());
  if (orgIds !== undefined) return { at: Date.now(), instances, routes, oomKills };
  const table = await s.proxy.current();
  const hosts = [...new Set((table?.routes ?? []).filter((r) => r.tls !== 'off').map((r) => r.host))];
  const certificates = findCertificates(hosts, s.certDir, path.join(s.home, 'caddy', 'data')).map((c) => ({
    host: c.host,
    validTo: c.validTo,
  }));
  return {
    at: Date.now(),
    instances,
    routes,
    oomKills,
    host: {
      deploys: await s.store.metrics.deploys(DEPLOY_BUCKETS),
      backups: await s.store.metrics.lastGoodBackups(),
      certificates,
      doctor: s.doctor(),
    },
  };
}

/**
 * The cheap part of a snapshot, what `berth top` and the metrics history need: the instances with their
 * own /proc files, and the builtin proxy's route counters (of `orgIds`' apps, or all).
 */
export async function collectServices(
  s: Pick<MetricsSources, 'store' | 'proxy'>,
  orgIds?: readonly number[],
  apps?: ReadonlySet<string>,
): Promise<{ at: number; instances: InstanceSample[]; routes: RouteCounters[] }> {
  const views = await s.store.instances.list(orgIds === undefined ? {} : { orgIds });
  const names = apps ?? (orgIds === undefined ? undefined : new Set(await s.store.apps.names(orgIds)));
  const instances = views.map((v): InstanceSample => {
    const use = v.pid === null ? undefined : procUsage(v.pid, v.startTicks);
    const base = {
      app: v.app,
      env: v.env,
      service: v.service,
      idx: v.idx,
      release: v.release,
      state: v.state,
      restarts: v.restarts,
    };
    return use ? { ...base, cpuSeconds: use.cpuSeconds, rssBytes: use.rssBytes } : base;
  });
  const all = (await s.proxy.routeCounters?.()) ?? [];
  const routes = names ? all.filter((r) => names.has(r.app)) : all;
  return { at: Date.now(), instances, routes };
}
