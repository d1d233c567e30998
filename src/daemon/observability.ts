import type { Logger } from 'pino';
import type { Alerter } from '../alerts/alerter.js';
import type { ApiDeps } from '../api/deps.js';
import type { HostSettings } from '../config/host-settings.js';
import type { InstanceManager } from '../engine/instance-manager.js';
import type { Secrets } from '../engine/secrets.js';
import { collectServices, type MetricsSources } from '../metrics/collector.js';
import { DoctorCache } from '../metrics/doctor-cache.js';
import { MetricsHistory, sampleInterval } from '../metrics/history.js';
import type { Proxy } from '../proxy/proxy.js';
import type { ContainerRunner } from '../runtime/container-runner.js';
import type { Store } from '../store/store.js';
import type { HomeLayout } from '../system/paths.js';
import { makeAlerter } from './alerts-start.js';
import { doctorRunner, type DoctorRun } from './doctor-run.js';
import { EventLoopStats } from './event-loop-stats.js';

export interface ObservabilityDeps {
  readonly settings: HostSettings;
  readonly store: Store;
  readonly proxy: Proxy;
  readonly layout: HomeLayout;
  readonly markerPrefix: string;
  readonly log: Logger;
  readonly instances: InstanceManager;
  readonly secrets: Secrets;
  /** Containers, when the host has an engine. */
  readonly containers: ContainerRunner | undefined;
}

/** How berthd watches what it runs, and what it hands the API and the deployer for it. */
export interface Observability {
  /** The doctor; its last host-wide run is what /metrics reports. */
  readonly doctor: DoctorRun;
  /** The alert rules, when config.yaml has `alerts:`. */
  readonly alerts: Alerter | undefined;
  /** The last hour per service (kept on disk across restarts). */
  readonly history: MetricsHistory;
  /** What the API reads of it: the doctor, /metrics' sources, the history; the event loop's stats (made now). */
  apiDeps(): Pick<ApiDeps, 'doctor' | 'metrics' | 'metricsHistory' | 'eventLoop'>;
  /** Once berthd serves: the history starts sampling (on every berthd). */
  start(): void;
  /** Once berthd leads: the alert rules start looking (a follower sends none). */
  startAlerts(): void;
  /** At shutdown: the history stops sampling. */
  stop(): void;
}

/** The doctor with its cache for /metrics, the alerter, the metrics history: built, not started. */
export function makeObservability(d: ObservabilityDeps): Observability {
  const { settings, store, proxy, log, instances } = d;
  const home = d.layout.root;
  const doctorCache = new DoctorCache();
  const doctor = doctorCache.wrap(
    doctorRunner({
      store,
      home,
      markerPrefix: d.markerPrefix,
      proxy,
      settings,
      logFile: (v) => instances.logFile(v),
      engine: d.containers?.engine,
    }),
  );
  const alerts = makeAlerter({ settings, store, home, log, doctor, secrets: d.secrets, instances });
  const history = new MetricsHistory(
    () => collectServices({ store, proxy }),
    sampleInterval(process.env),
    (err) => log.warn({ err }, 'metrics history: sample failed'),
    d.layout.metricsHistory,
  );
  const metrics: MetricsSources = {
    store,
    proxy,
    home,
    certDir: settings.proxy === 'nginx' ? settings.certDir : undefined,
    doctor: () => doctorCache.last,
  };
  return {
    doctor,
    alerts,
    history,
    apiDeps: () => ({ doctor, metrics, metricsHistory: history, eventLoop: EventLoopStats.fromEnv(process.env) }),
    start: () => history.start(),
    startAlerts: () => alerts?.start(),
    stop: () => history.stop(),
  };
}
