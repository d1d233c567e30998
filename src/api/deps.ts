import type { FastifyRequest } from 'fastify';
import type { MetricsSources } from '../metrics/collector.js';
import type { MetricsHistory } from '../metrics/history.js';
import type { Identity } from '../auth/identity.js';
import type { ManifestThread } from '../config/manifest-thread.js';
import type { Principal } from '../core/roles.js';
import type { Finding } from '../doctor/finding.js';
import type { Apps } from '../engine/apps.js';
import type { EventLoopStats } from '../daemon/event-loop-stats.js';
import type { Deployer } from '../engine/deploy/deployer.js';
import type { Environments } from '../engine/environments.js';
import type { Images } from '../engine/images.js';
import type { Cluster } from '../engine/cluster.js';
import type { InstanceManager } from '../engine/instance-manager.js';
import type { ReleaseExec } from '../engine/release-exec.js';
import type { CronScheduler } from '../engine/cron/scheduler.js';
import type { Secrets } from '../engine/secrets.js';
import type { Sites } from '../engine/sites.js';
import type { Webhooks } from '../engine/webhooks.js';
import type { Proxy } from '../proxy/proxy.js';
import type { Store } from '../store/store.js';
import type { HomeLayout } from '../system/paths.js';
import { visibleOrgs } from './policy.js';
import type { Backups } from '../engine/backup/backups.js';
import type { Restores } from '../engine/backup/restore.js';

/** What the API's route files share (none imports the server): the daemon's parts, and redaction for the caller. */
export interface ApiDeps {
  /** Parses manifests and reads upload bodies off the event loop, with the host's limits. */
  readonly manifests: Pick<ManifestThread, 'parse' | 'readUpload'>;
  readonly apps: Apps;
  readonly deployer: Deployer;
  readonly environments: Environments;
  /** `berth images` and its prune: this home's images on the container engine. */
  readonly images: Images;
  /** `berth cluster`: the Docker Swarm of this host's container engine. */
  readonly cluster: Cluster;
  readonly identity: Identity;
  readonly secrets: Secrets;
  readonly webhooks: Webhooks;
  readonly sites: Sites;
  readonly layout: HomeLayout;
  readonly store: Store;
  readonly instances: InstanceManager;
  /** Commands in a current release as its service runs (`berth run`). */
  readonly exec: ReleaseExec;
  readonly cron: CronScheduler;
  /** `berth backup`: verified snapshots of environments, and restores. */
  readonly backups?: Backups;
  readonly restores?: Restores;
  readonly proxy: Proxy;
  readonly doctor: (app?: string) => Promise<Finding[]>;
  /** What GET /metrics and GET /v1/stats read (src/metrics/collector.ts). */
  readonly metrics: MetricsSources;
  /** The last hour per service, sampled in memory (src/metrics/history.ts); absent: none kept. */
  readonly metricsHistory?: MetricsHistory;
  readonly settingsFile: string;
  readonly info: () => Record<string, unknown>;
  /** How long the event loop was held (BERTH_EVENT_LOOP_STATS=1, for benchmarks); absent when off. */
  readonly eventLoop?: EventLoopStats | undefined;
  readonly shutdown: () => void;
}

/**
 * Redacts an answer for its caller: each record of an app with that app's own secrets; text
 * outside any record with those of the app the route is about (root), or of the apps the caller
 * can see (remote: no oracle on other organisations' values). Never every organisation's: one
 * tenant's secret does not blank words out of another's records.
 */
export async function callerRedaction(
  deps: Pick<ApiDeps, 'store' | 'secrets'>,
  req: FastifyRequest,
): Promise<<T>(value: T) => T> {
  const scope = await callerScope(deps, req);
  return (value) => deps.secrets.redact(value, scope);
}

async function callerScope(deps: Pick<ApiDeps, 'store' | 'secrets'>, req: FastifyRequest): Promise<string[]> {
  const about = (req.params as { app?: unknown } | undefined)?.app;
  const principal = req.principal as Principal | null; // null when the request was refused before it was authenticated
  if (principal?.kind === 'local') return typeof about === 'string' ? [about] : [];
  const orgs = principal ? await visibleOrgs(deps.store, principal) : [];
  return deps.store.apps.names(orgs);
}
