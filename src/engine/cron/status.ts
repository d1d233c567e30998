import type { CronJobSpec } from '../../config/manifest-types.js';
import { nextDue } from '../../config/cron-schedule.js';
import type { CronJobStatus, CronRunView } from '../../core/cron-status.js';
import type { EnvironmentRow } from '../../store/apps-repo.js';
import type { CronRunRow } from '../../store/cron-repo.js';
import type { Store } from '../../store/store.js';

/** The jobs of an environment's current release with their last run and next run, as `berth cron ls` shows them. */
export async function jobStatuses(
  store: Store,
  env: EnvironmentRow,
  jobs: readonly CronJobSpec[],
  now: number,
): Promise<CronJobStatus[]> {
  const out: CronJobStatus[] = [];
  for (const job of jobs) {
    const runs = (await store.cron.recent(env.id, job.name, 50)).map(runView);
    out.push({
      app: env.app,
      env: env.name,
      name: job.name,
      schedule: job.schedule,
      service: job.service,
      argv: job.argv,
      overlap: job.overlap,
      lastRun: runs[0] ?? null,
      lastExit: runs.find((r) => r.status === 'succeeded' || r.status === 'failed') ?? null,
      nextRun: nextDue(job.schedule, now),
    });
  }
  return out;
}

export function runView(r: CronRunRow): CronRunView {
  return {
    dueAt: r.dueAt,
    release: r.release,
    status: r.status,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    exitCode: r.exitCode,
    signal: r.signal,
    note: r.note,
  };
}
