import { isSameProcessAlive, listPids, procArgv, procStat } from '../../system/proc.js';

/** A live process of this BERTH_HOME's proxy (the builtin proxy, Caddy, nginx), found in /proc. */
export interface ProxyProcess {
  readonly pid: number;
  /** With the pid, identifies the process for good (a reused pid is another process). */
  readonly startTicks: string;
  readonly command: string;
}

/** Live processes (zombies excluded) whose argv `match` accepts. */
export function findProcesses(match: (argv: readonly string[], pid: number) => boolean): ProxyProcess[] {
  const out: ProxyProcess[] = [];
  for (const pid of listPids()) {
    if (pid === process.pid) continue;
    // argv first (a zombie has none): the stat only of the few that match, one file per process.
    const argv = procArgv(pid);
    if (argv.length === 0 || !match(argv, pid)) continue;
    const st = procStat(pid);
    if (st && st.state !== 'Z' && st.state !== 'X')
      out.push({ pid, startTicks: st.startTicks, command: argv.join(' ') });
  }
  return out;
}

/** Ends the processes: SIGTERM, SIGKILL to those still there after `graceMs`; resolves once all are gone. */
export async function endProcesses(list: readonly ProxyProcess[], graceMs = 5000): Promise<void> {
  const alive = () => list.filter((p) => isSameProcessAlive(p.pid, p.startTicks));
  const signal = (sig: NodeJS.Signals) =>
    alive().forEach((p) => {
      try {
        process.kill(p.pid, sig);
      } catch {
        // gone meanwhile
      }
    });
  signal('SIGTERM');
  for (let waited = 0; waited < graceMs && alive().length > 0; waited += 25)
    await new Promise((r) => setTimeout(r, 25));
  signal('SIGKILL');
  for (let i = 0; i < 200 && alive().length > 0; i++) await new Promise((r) => setTimeout(r, 25));
}
