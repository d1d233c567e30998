import { tailLines } from '../../runtime/log-files.js';
import type { InstanceView } from '../../store/instances-repo.js';
import { holdsProcess } from '../../core/instance-state.js';
import type { Facts } from '../facts.js';
import type { Finding } from '../finding.js';

const DOWN: Record<string, { code: string; severity: 'error' | 'warning'; what: string }> = {
  exited: { code: 'instance-down', severity: 'error', what: 'exited and stays down' },
  failed: { code: 'instance-down', severity: 'error', what: 'could not be started' },
  crashloop: { code: 'instance-crashloop', severity: 'error', what: 'keeps crashing (crashloop)' },
  unhealthy: { code: 'instance-unhealthy', severity: 'error', what: 'runs but fails its health check' },
  backoff: { code: 'instance-restarting', severity: 'warning', what: 'exited and is about to be restarted' },
};

/** A restart this recent still counts as the start of a crash loop (the restart policy's window). */
const RECENT_MS = 60_000;

interface Exit {
  readonly code: number | null;
  readonly signal: string | null;
  readonly at?: number;
  readonly note?: string;
}

/**
 * Instances that should run but are dead, crash-looping or unhealthy, or restarting after a crash;
 * instances recorded as holding a process (whatever the state) whose process is gone (a crash,
 * named with its log lines); services stopped on purpose, as information.
 */
export function instanceChecks(f: Facts): Finding[] {
  const out: Finding[] = [...stoppedServices(f)];
  for (const v of f.instances) {
    const where = { app: v.app, env: v.env, service: v.service };
    const name = `${v.app}/${v.service}[${v.idx}] (release ${v.release})`;
    const exit = v.lastExit ? (JSON.parse(v.lastExit) as Exit) : undefined;
    if (holdsProcess(v.state) && v.pid !== null && v.startTicks !== null && f.startTicks.get(v.pid) !== v.startTicks) {
      // Wanted running: berthd has not handled the exit yet (it restarts it by policy), so the crash is the news.
      const crashed = v.desired === 'running' ? `: it crashed${logLines(f, v)}` : '';
      const env = v.env === 'production' ? '' : ` --env ${v.env}`;
      out.push({
        severity: 'warning',
        code: 'instance-pid-gone',
        ...where,
        message: `${name} is recorded as ${v.state} with pid ${v.pid}, but that process is gone${crashed}`,
        fix: v.current
          ? `berth ${v.desired === 'running' ? 'start' : 'stop'} ${v.app} ${v.service}${env}`
          : 'berth daemon stop && berth daemon start (berthd closes the record when it starts)',
        deployFixes: true,
      });
      continue;
    }
    if (v.desired !== 'running') continue;
    const down = DOWN[v.state];
    if (down) {
      out.push({
        severity: down.severity,
        code: down.code,
        ...where,
        message: `${name} ${down.what}: ${exit ? why(exit) : 'no exit recorded'}${logLines(f, v)}`,
        fix: `berth logs ${v.app} ${v.service}, fix the cause, then berth restart ${v.app} ${v.service}`,
        deployFixes: true,
      });
      continue;
    }
    if (v.state === 'starting' && v.restarts > 0 && exit?.at !== undefined && f.now - exit.at < RECENT_MS) {
      out.push({
        severity: 'warning',
        code: 'instance-restarting',
        ...where,
        message: `${name} is starting again after it crashed ${Math.round((f.now - exit.at) / 1000)} s ago: ${why(exit)} (restart ${v.restarts})${logLines(f, v)}`,
        fix: `berth logs ${v.app} ${v.service}, fix the cause, then berth restart ${v.app} ${v.service}`,
        deployFixes: true,
      });
    }
  }
  return out;
}

/** One finding per service of a current release whose instances were all stopped with `berth stop`. */
function stoppedServices(f: Facts): Finding[] {
  const byService = new Map<string, InstanceView[]>();
  for (const v of f.instances.filter((x) => x.current)) {
    const key = `${v.app}\0${v.env}\0${v.service}`;
    byService.set(key, [...(byService.get(key) ?? []), v]);
  }
  const out: Finding[] = [];
  for (const vs of byService.values()) {
    const v = vs[0] as InstanceView;
    if (!vs.every((x) => x.desired === 'stopped')) continue;
    const routed = f.proxyTable?.routes.some((r) => r.app === v.app && r.env === v.env && r.service === v.service);
    out.push({
      severity: 'info',
      code: 'service-stopped',
      app: v.app,
      env: v.env,
      service: v.service,
      message: `${v.app}/${v.env}/${v.service} was stopped on purpose (berth stop)${routed ? ': its routes answer 502 until it starts' : ''}`,
      fix: `berth start ${v.app} ${v.service}${v.env === 'production' ? '' : ` --env ${v.env}`}`,
    });
  }
  return out;
}

/** True when every instance of the current release of that service was stopped on purpose. */
export function stoppedOnPurpose(f: Facts, app: string, env: string, service: string): boolean {
  const vs = f.instances.filter((v) => v.current && v.app === app && v.env === env && v.service === service);
  return vs.length > 0 && vs.every((v) => v.desired === 'stopped');
}

function why(exit: Exit): string {
  return exit.note ?? (exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`);
}

function logLines(f: Facts, v: InstanceView): string {
  const lines = tailLines(f.logFile(v), 5);
  return lines.length ? `; last log lines:\n${lines.map((l) => `    ${l}`).join('\n')}` : '; it logged nothing';
}
