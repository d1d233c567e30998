import { statfsSync } from 'node:fs';
import type { AlertRules } from '../config/host-alerts.js';
import type { CertificateFact } from '../doctor/checks/tls.js';
import type { Finding } from '../doctor/finding.js';
import type { AlertsRepo } from '../store/alerts-repo.js';
import type { Condition } from './incidents.js';

const DAY = 86_400_000;

/** Doctor findings that other rules report in their own words (and at once): not doctor_error too. */
const COVERED = new Set([
  'instance-crashloop',
  'instance-unhealthy',
  'backup_failed',
  'backup_stale',
  'tls-expired',
  'tls-expiring',
]);

/** The restart policy's window: an instance that exited this recently has not stopped crashing. */
const RECENT_MS = 60_000;

interface Exit {
  readonly code: number | null;
  readonly signal: string | null;
  readonly at?: number;
}

function exitText(lastExit: string | null): string {
  if (!lastExit) return '';
  const e = JSON.parse(lastExit) as Exit;
  return e.signal ? ` (last killed by ${e.signal})` : e.code !== null ? ` (last exit code ${e.code})` : '';
}

/**
 * crashloop, unhealthy and deploy_failed: read from the store, cheap enough to look at every few
 * seconds. A crashloop goes on (`crashing`: the subjects with an open incident) while the instance
 * exits again within the restart policy's window, between the times it is in state crashloop, and
 * also after a berthd restart (which starts counting its failures anew).
 */
export async function storeConditions(
  repo: AlertsRepo,
  rules: AlertRules,
  now: number,
  crashing: ReadonlySet<string>,
): Promise<Condition[]> {
  const out: Condition[] = [];
  for (const i of await repo.troubled()) {
    const where = { app: i.app, env: i.env, service: i.service, subject: `${i.app}/${i.env}/${i.service}` };
    const name = `${i.app}/${i.service}[${i.idx}] (${i.env})`;
    const exitedAt = i.lastExit ? (JSON.parse(i.lastExit) as Exit).at : undefined;
    const still = crashing.has(where.subject) && exitedAt !== undefined && now - exitedAt < RECENT_MS;
    if ((i.state === 'crashloop' || still) && rules.crashloop)
      out.push({ rule: 'crashloop', ...where, message: `${name} keeps crashing${exitText(i.lastExit)}` });
    const after = rules.unhealthyAfterMs;
    if (i.state === 'unhealthy' && after !== undefined && now - i.stateSince >= after)
      out.push({
        rule: 'unhealthy',
        ...where,
        message: `${name} has failed its health check for ${Math.round((now - i.stateSince) / 60_000)} minute(s)`,
      });
  }
  if (rules.deployFailed)
    for (const d of await repo.failedDeploys())
      out.push({
        rule: 'deploy_failed',
        subject: `${d.app}/${d.env}`,
        app: d.app,
        env: d.env,
        message: `deploy of ${d.app} (${d.env}), release ${d.number}, failed: ${d.error ?? 'no error recorded'}`,
      });
  return out;
}

/** The disk BERTH_HOME is on, when fuller than `percent` (used as df counts it: of what non-root users may use). */
export function diskCondition(home: string, percent: number | undefined): Condition[] {
  if (percent === undefined) return [];
  const s = statfsSync(home);
  const used = s.blocks - s.bfree;
  const usable = used + s.bavail;
  const share = usable > 0 ? (100 * used) / usable : 0;
  if (share < percent) return [];
  const free = (s.bavail * s.bsize) / 2 ** 30;
  return [
    {
      rule: 'disk',
      subject: home,
      message: `the disk of BERTH_HOME (${home}) is ${Math.round(share)} % full, ${free.toFixed(1)} GiB free (alert at ${percent} %)`,
    },
  ];
}

/** doctor_error, certificate and backup: from a doctor run (findings, and the certificates it read). */
export function doctorConditions(
  findings: readonly Finding[],
  certificates: readonly CertificateFact[],
  rules: AlertRules,
  now: number,
): Condition[] {
  const out: Condition[] = [];
  for (const f of findings) {
    const where = { app: f.app, env: f.env, service: f.service };
    if (rules.backup && (f.code === 'backup_failed' || f.code === 'backup_stale'))
      out.push({ rule: 'backup', subject: `${f.app}/${f.env}`, ...where, message: f.message });
    else if (rules.doctorError && f.severity === 'error' && !COVERED.has(f.code))
      out.push({
        rule: 'doctor_error',
        subject: `${f.code}:${f.app ?? '-'}/${f.env ?? '-'}/${f.service ?? '-'}`,
        ...where,
        message: f.fix ? `${f.message} (fix: ${f.fix})` : f.message,
      });
  }
  const days = rules.certificateDays;
  if (days !== undefined)
    for (const c of certificates) {
      const left = c.validTo - now;
      // Caddy renews its own at a third of the lifetime left: before that, a short-lived certificate is fine.
      if (left >= days * DAY || (c.source === 'caddy' && left > 0 && left >= (c.validTo - c.validFrom) / 3)) continue;
      out.push({
        rule: 'certificate',
        subject: c.host,
        message:
          left <= 0
            ? `the certificate for ${c.host} (${c.file}) expired on ${new Date(c.validTo).toISOString()}`
            : `the certificate for ${c.host} (${c.file}) expires in ${Math.floor(left / DAY)} day(s), on ${new Date(c.validTo).toISOString()}`,
      });
    }
  return out;
}
