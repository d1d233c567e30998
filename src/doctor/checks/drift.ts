import path from 'node:path';
import type { Facts } from '../facts.js';
import { describeProcess, subdirs } from '../facts.js';
import type { Finding } from '../finding.js';

/** Live processes carrying this BERTH_HOME's instance marker that the store does not know. */
export function driftChecks(f: Facts): Finding[] {
  const known = new Set(f.instances.map((v) => `${f.markerPrefix}:${v.id}`));
  return (
    f.processes
      // An instance's mark ends in its id; `:run-…` and `:cron-…` mark commands run in a release (berth run, cron:).
      .filter(
        (p) =>
          /^\d+$/.test(p.marker?.split(':')[1] ?? '') &&
          p.marker?.startsWith(`${f.markerPrefix}:`) &&
          !known.has(p.marker),
      )
      .map((p) => ({
        severity: 'warning' as const,
        code: 'unknown-process',
        message: `${describeProcess(p)} carries the mark of instance ${p.marker?.split(':')[1]}, which Berth does not know: a leftover`,
        fix: `kill ${p.pid}`,
      }))
  );
}

/** Release, log and data directories that belong to nothing Berth knows. */
export function orphanChecks(f: Facts): Finding[] {
  const out: Finding[] = [];
  const owned = new Set(f.releases.map((r) => r.dir));
  const releases = path.join(f.home, 'releases');
  for (const app of subdirs(releases)) {
    for (const env of subdirs(path.join(releases, app))) {
      for (const n of subdirs(path.join(releases, app, env))) {
        const dir = path.join(releases, app, env, n);
        if (!owned.has(dir))
          out.push({
            severity: 'warning',
            code: 'orphan-release-dir',
            app,
            env,
            message: `${dir} belongs to no release`,
            fix: `rm -rf ${dir}`,
          });
      }
    }
  }
  for (const [kind, code] of [
    ['logs', 'orphan-log-dir'],
    ['data', 'orphan-data-dir'],
  ] as const) {
    for (const app of subdirs(path.join(f.home, kind))) {
      if (f.apps.includes(app)) continue;
      const dir = path.join(f.home, kind, app);
      const message =
        kind === 'data'
          ? `${dir} is the data of an app that was removed (berth rm without --purge)`
          : `${dir} holds logs of an app Berth does not know`;
      out.push({ severity: 'info', code, app, message, fix: `rm -rf ${dir}` });
    }
  }
  return out;
}
