import { closest } from '../core/did-you-mean.js';
import { scheduleProblem } from './cron-schedule.js';
import type { Problem } from './manifest-errors.js';
import type { ManifestInput } from './manifest-schema.js';
import { runsProcess } from './manifest-normalize.js';

/** `cron:` jobs: a schedule that parses (the wrong field named), a service that exists and runs a process. */
export function cronProblems(m: ManifestInput): Problem[] {
  const problems: Problem[] = [];
  const services = Object.entries(m.services);
  const processes = services.filter(([, s]) => runsProcess(s)).map(([n]) => n);
  for (const [name, job] of Object.entries(m.cron ?? {})) {
    const at = ['cron', name];
    const why = scheduleProblem(job.schedule);
    if (why !== undefined)
      problems.push({
        path: [...at, 'schedule'],
        message: `${JSON.stringify(job.schedule)}: ${why}`,
        hint: 'e.g. "*/15 * * * *" (every 15 minutes) or "30 3 * * *" (03:30 UTC daily); times are UTC',
      });
    if (job.service === undefined) {
      if (processes.length === 0)
        problems.push({
          path: at,
          message: 'a job runs as a service runs, and no service of this app runs a process',
          hint: 'add a service with `run:` and name it in `service:`',
        });
      continue;
    }
    if (processes.includes(job.service)) continue;
    const known = services.some(([n]) => n === job.service);
    const guess = known ? undefined : closest(job.service, processes);
    problems.push({
      path: [...at, 'service'],
      message: known
        ? `service "${job.service}" is static or a managed database: it runs no process whose env a job could take`
        : `unknown service "${job.service}"`,
      hint: guess ? `did you mean "${guess}"?` : `services that run a process: ${processes.join(', ') || 'none'}`,
    });
  }
  return problems;
}
