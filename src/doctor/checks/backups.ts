import { nextDue } from '../../config/cron-schedule.js';
import type { BackupRow } from '../../store/backups-repo.js';
import type { Facts } from '../facts.js';
import type { Finding } from '../finding.js';

function age(ms: number): string {
  const m = Math.max(0, Math.round(ms / 60_000));
  if (m < 120) return `${m} minute${m === 1 ? '' : 's'}`;
  const h = Math.round(m / 60);
  return h < 48 ? `${h} hours` : `${Math.round(h / 24)} days`;
}

/**
 * Backups: the last one of an environment failed (or could not be verified), or its last good
 * one is older than two periods of its schedule. A failed backup is an error until a good one
 * follows: it is never a success message.
 */
export function backupChecks(f: Facts): Finding[] {
  const out: Finding[] = [];
  const at = f.scheduleTime ?? ((real: number) => real);
  const now = at(f.now);
  for (const e of f.environments) {
    const rows = (f.backups.get(e.id) ?? []).filter((b) => b.status !== 'running');
    const spec = f.manifests.get(e.id)?.backup ?? null;
    if (rows.length === 0 && !spec) continue;
    const where = `${e.app}/${e.name}`;
    const good: BackupRow | undefined = rows.find((b) => b.status === 'verified');
    const goodText = good ? `the last good backup is ${age(f.now - good.startedAt)} old` : 'there is no good backup';
    const last = rows[0];
    const fix = `berth backup run ${e.app} --env ${e.name} (after fixing the cause); berth backup ls ${e.app} --env ${e.name}`;
    if (last && last.status === 'failed') {
      out.push({
        severity: 'error',
        code: 'backup_failed',
        app: e.app,
        env: e.name,
        message: `the last backup of ${where} failed: ${last.error ?? 'unknown error'}; ${goodText}`,
        fix,
      });
      continue;
    }
    if (!spec) continue;
    const next = nextDue(spec.schedule, now);
    const after = next === null ? null : nextDue(spec.schedule, next);
    const period = next !== null && after !== null ? after - next : 86_400_000;
    const since = at(good?.startedAt ?? e.createdAt);
    if (now - since > 2 * period + 3_600_000)
      out.push({
        severity: 'error',
        code: 'backup_stale',
        app: e.app,
        env: e.name,
        message: good
          ? `last good backup of ${where} is ${age(now - since)} old (schedule "${spec.schedule}")`
          : `${where} has had no good backup since it was made, ${age(now - since)} ago (schedule "${spec.schedule}")`,
        fix,
      });
  }
  return out;
}
