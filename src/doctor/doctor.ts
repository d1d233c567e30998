import { instanceChecks } from './checks/instances.js';
import { backupChecks } from './checks/backups.js';
import { containerDiskChecks } from './checks/container-disk.js';
import { containerIsolationChecks } from './checks/container-isolation.js';
import { clusterNodeChecks } from './checks/cluster-nodes.js';
import { clusterServiceChecks } from './checks/cluster-services.js';
import { driftChecks, orphanChecks } from './checks/drift.js';
import { portChecks } from './checks/ports.js';
import { edgeRouteChecks, routeChecks } from './checks/routes.js';
import { proxyProcessChecks } from './checks/proxy-processes.js';
import { tlsChecks, tlsHandshakeChecks } from './checks/tls.js';
import type { Facts } from './facts.js';
import { sortFindings, type Finding } from './finding.js';

/** Every check, each a small function of the facts. */
export const CHECKS: ReadonlyArray<(f: Facts) => Finding[]> = [
  routeChecks,
  edgeRouteChecks,
  instanceChecks,
  portChecks,
  driftChecks,
  orphanChecks,
  tlsChecks,
  tlsHandshakeChecks,
  proxyProcessChecks,
  containerDiskChecks,
  containerIsolationChecks,
  backupChecks,
  clusterNodeChecks,
  clusterServiceChecks,
];

/** Runs the checks; with `app`, keeps the findings about that app. */
export function diagnose(facts: Facts, app?: string): Finding[] {
  const all = CHECKS.flatMap((check) => check(facts));
  return sortFindings(app === undefined ? all : all.filter((x) => x.app === app));
}
