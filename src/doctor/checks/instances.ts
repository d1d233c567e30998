import { tailLines } from '../../runtime/log-files.js';
import { holdsProcess } from '../../core/instance-state.js';
import { isSameProcessAlive } from '../../system/proc.js';
import type { Facts } from '../facts.js';
import type { Finding } from '../finding.js';

const DOWN: Record<string, { code: string; severity: 'error' | 'warning'; what: string }> = {
  exited: { code: 'instance-down', severity: 'error', what: 'exited and stays down' },
  failed: { code: 'instance-down', severity: 'error', what: 'could not be started' },
  crashloop: { code: 'instance-crashloop', severity: 'error', what: 'keeps crashing (crashloop)' },
  unhealthy: { code: 'instance-unhealthy', severity: 'error', what: 'runs but fails its health check' },
  backoff: { code: 'instance-restarting', severity: 'warning', what: 'exited and is about to be restarted' },
};

/**
 * Instances that should run but are dead, crash-looping or unhealthy; instances recorded as
 * holding a process (starting, healthy, unhealthy, stopping: whatever the state) whose
 * process is gone.
 */
export function instanceChecks(f: Facts): Finding[] {
  const out: Finding[] = [];
  for (const v of f.instances) {
    const where = { app: v.app, env: v.env, service: v.service };
    const name = `${v.app}/${v.service}[${v.idx}] (release ${v.release})`;
    if (holdsProcess(v.state) && v.pid !== null && v.startTicks !== null && !isSameProcessAlive(v.pid, v.startTicks)) {
      const env = v.env === 'production' ? '' : ` --env ${v.env}`;
      out.push({
        severity: 'warning',
        code: 'instance-pid-gone',
        ...where,
        message: `${name} is recorded as ${v.state} with pid ${v.pid}, but that process is gone`,
        fix: v.current
          ? `berth ${v.desired === 'running' ? 'start' : 'stop'} ${v.app} ${v.service}${env}`
          : 'berth daemon stop && berth daemon start (berthd closes the record when it starts)',
        deployFixes: true,
      });
      continue;
    }
    if (v.desired !== 'running') continue;
    const down = DOWN[v.state];
    if (!down) continue;
    const exit = v.lastExit
      ? (JSON.parse(v.lastExit) as { code: number | null; signal: string | null; note?: string })
      : undefined;
    const why = exit
      ? (exit.note ?? (exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`))
      : 'no exit recorded';
    const lines = tailLines(f.logFile(v), 5);
    out.push({
      severity: down.severity,
      code: down.code,
      ...where,
      message: `${name} ${down.what}: ${why}${lines.length ? `; last log lines:\n${lines.map((l) => `    ${l}`).join('\n')}` : '; it logged nothing'}`,
      fix: `berth logs ${v.app} ${v.service}, fix the cause, then berth restart ${v.app} ${v.service}`,
      deployFixes: true,
    });
  }
  return out;
}
