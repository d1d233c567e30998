import type { HostSettings } from '../config/host-settings.js';
import { CronClock } from '../engine/cron/clock.js';
import { diagnose } from '../doctor/doctor.js';
import { gatherFacts } from '../doctor/facts.js';
import type { CertificateFact } from '../doctor/checks/tls.js';
import type { Finding } from '../doctor/finding.js';
import { engineDiskUse } from '../engine/engine-disk.js';
import { engineFirewall } from '../engine/engine-firewall.js';
import { readSwarm } from '../doctor/swarm-facts.js';
import type { InstanceView } from '../store/instances-repo.js';
import type { Proxy } from '../proxy/proxy.js';
import { listeningSockets } from '../runtime/listen-table.js';
import type { ContainerEngine } from '../runtime/container-engine.js';
import type { Store } from '../store/store.js';

export interface DoctorSources {
  readonly store: Store;
  readonly home: string;
  readonly markerPrefix: string;
  readonly proxy: Proxy;
  readonly settings: HostSettings;
  readonly logFile: (v: InstanceView) => string;
  /** The container engine, when the host has one. */
  readonly engine: ContainerEngine | undefined;
}

/** berthd's doctor, for one app or all; `full` also gives the certificates it read (the alert rules'). */
export type DoctorRun = ((app?: string) => Promise<Finding[]>) & {
  readonly full: () => Promise<{ findings: Finding[]; certificates: readonly CertificateFact[] }>;
};

/**
 * berthd's doctor: the facts gathered from the store, the host, the proxy and the engine, then
 * the checks. For one app (a deploy's pre-flight), what only makes findings about no app (the
 * edge's routes, the proxy's leftovers) is not looked at.
 */
export function doctorRunner(s: DoctorSources): DoctorRun {
  const { proxy, engine } = s;
  const clock = CronClock.fromEnv(process.env);
  const gather = async (app?: string) =>
    gatherFacts({
      store: s.store,
      home: s.home,
      markerPrefix: s.markerPrefix,
      proxyTable: await proxy.current(),
      logFile: s.logFile,
      certDir: s.settings.proxy === 'nginx' ? s.settings.certDir : undefined,
      edgeRoutes: app === undefined ? await proxy.edgeRoutes?.().catch(() => []) : [],
      tlsHandshakes: proxy.tlsHandshakes?.bind(proxy),
      proxyLeftovers: app === undefined ? proxy.leftovers?.() : [],
      app,
      engineDisk: engine && { read: () => engineDiskUse(engine), warnAt: s.settings.containerDiskWarn },
      engineFirewall: engine && (() => engineFirewall(engine)),
      scheduleTime: (real) => clock.now(real),
      swarm: engine && (() => readSwarm(engine, s.markerPrefix)),
      listeners: listeningSockets,
    });
  const run = async (app?: string) => diagnose(await gather(app), app);
  const full = async () => {
    const facts = await gather();
    return { findings: diagnose(facts), certificates: facts.certificates };
  };
  return Object.assign(run, { full });
}
