import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import path from 'node:path';

/** Wall time of one command run, in milliseconds. */
export function timeCommand(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    execFile(argv[0] as string, argv.slice(1), { env, maxBuffer: 64 * 1024 * 1024 }, (err, _out, stderr) => {
      if (err) reject(new Error(`${argv.join(' ')}: ${err.message}\n${stderr}`));
      else resolve(Number(process.hrtime.bigint() - t0) / 1e6);
    });
  });
}

export function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    '| ' + cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ') + ' |';
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** One line about the machine, for the results table. */
export function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  let kernel = '';
  try {
    kernel = execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim();
  } catch {
    // no uname
  }
  return `${cpus().length} x ${cpu}, ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${kernel}, Node ${process.version}`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** PM2's CLI, installed from npm into bench/.pm2 on first use (the side-by-side benchmarks compare with it). */
export function pm2Bin(repo: string): string {
  const prefix = path.join(repo, 'bench', '.pm2');
  const bin = path.join(prefix, 'node_modules', 'pm2', 'bin', 'pm2');
  if (!existsSync(bin))
    execFileSync('npm', ['install', '--prefix', prefix, '--no-audit', '--no-fund', '--loglevel=error', 'pm2@7'], {
      stdio: 'inherit',
    });
  return bin;
}

/** CPU time (user + system) a process has used so far, in milliseconds, from /proc/<pid>/stat. */
export function cpuMs(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in USER_HZ (100 on Linux)
}

/** The load average over the last minute, for the results table. */
export function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

/**
 * A fresh work directory for one run (BERTH_HOME and the app's source go inside). mkdtemp makes
 * it 0700; as root with app users on (the default), each app runs as its own user, which must
 * pass through it to reach its release in BERTH_HOME: 0711, like /var/lib, lets it through
 * without listing anything.
 */
export function workDir(name: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `berth-bench-${name}-`));
  chmodSync(dir, 0o711);
  return dir;
}

/**
 * The environment the benchmarks run Berth (and PM2) in: this one, without what a default host does not
 * set. NODE_EXTRA_CA_CERTS (set on this build machine) makes every Node process parse a CA bundle at
 * start, ~40 ms of CPU per CLI call here, which no fresh Debian/Ubuntu box pays.
 */
export function hostEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

/** Says what hostEnv left out, for the line above a results table. */
export function envNote(): string {
  return process.env.NODE_EXTRA_CA_CERTS !== undefined
    ? ', NODE_EXTRA_CA_CERTS unset for the tools (a default host has none)'
    : '';
}

/** CPU time (user + system) of this process's waited-for children so far, in ms (cutime + cstime). */
function childrenCpuMs(): number {
  const text = readFileSync('/proc/self/stat', 'utf8');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[13]) + Number(f[14])) * 1000) / 100;
}

/** Runs `bin args` to its end: its wall time, its CPU (and its children's), its output; an error with its output if it failed. */
export function timedCommand(
  bin: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ ms: number; cpu: number; out: string }> {
  const t0 = process.hrtime.bigint();
  const cpu0 = childrenCpuMs();
  return new Promise((resolve, reject) =>
    execFile(bin, args, { env }, (err, out, errOut) =>
      err
        ? reject(new Error(`${args.join(' ')}: ${errOut || out}`))
        : resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, cpu: childrenCpuMs() - cpu0, out }),
    ),
  );
}
