import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { listPids, procEnvValue } from '../../src/system/proc.js';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(fileURLToPath(new URL('../../..', import.meta.url)));
export const BIN = path.join(REPO, 'bin', 'berth.js');

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * A private BERTH_HOME with its own port range, and the real `berth` CLI pointed at it.
 * Each test file passes its own range so files running in parallel never compete.
 */
export class TestHome {
  readonly root: string;
  readonly env: NodeJS.ProcessEnv;

  /** Where this home's proxy serves HTTP: derived from the port range, so homes never share it. */
  readonly httpPort: number;

  constructor(portRange: string, prefix = 'berth-test-') {
    this.root = mkdtempSync(path.join(tmpdir(), prefix));
    this.httpPort = 18000 + (Math.floor(Number(portRange.split('-')[0]) / 100) % 100);
    this.env = {
      ...process.env,
      BERTH_HOME: path.join(this.root, 'home'),
      BERTH_PORT_RANGE: portRange,
      BERTH_HTTP_PORT: String(this.httpPort),
      BERTH_HTTP_ADDRESS: '127.0.0.1',
      BERTH_APP_USERS: '0',
    }; // app users: test/app-users.test.ts only (users are system-wide)
  }

  get home(): string {
    return this.env.BERTH_HOME as string;
  }

  cli(...args: string[]): Promise<CliResult> {
    return this.run(args);
  }

  /**
   * The CLI with something on its standard input (a password, a secret), or another environment, or
   * another bound than 120 s on its run (a deploy with a long build).
   */
  run(
    args: readonly string[],
    opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
  ): Promise<CliResult> {
    const timeout = opts.timeoutMs ?? 120_000;
    return new Promise((resolve) => {
      const child = execFile(
        process.execPath,
        [BIN, ...args],
        { env: opts.env ?? this.env, timeout, maxBuffer: 16 * 1024 * 1024 },
        (err, stdout, stderr) => {
          const code = err
            ? typeof (err as NodeJS.ErrnoException & { code?: unknown }).code === 'number'
              ? (err as unknown as { code: number }).code
              : 1
            : 0;
          // Killed by the timeout above: say so, or a failure would read as an empty exit 1.
          const killed = (err as { killed?: boolean } | null)?.killed
            ? `\n[berth ${args[0]} killed after ${timeout / 1000} s]`
            : '';
          resolve({ code, stdout, stderr: stderr + killed });
        },
      );
      child.stdin?.end(opts.input ?? '');
    });
  }

  /** Runs the CLI and parses its --json output; fails loudly on a non-zero exit. */
  async json<T>(...args: string[]): Promise<T> {
    const r = await this.cli(...args, '--json');
    if (r.code !== 0) throw new Error(`berth ${args.join(' ')} exited ${r.code}: ${r.stdout}${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }

  /** Writes an app directory with a berth.yaml and files; returns its path. */
  app(name: string, manifest: string, files: Record<string, string> = {}): string {
    const dir = path.join(this.root, 'apps', name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'berth.yaml'), manifest);
    for (const [file, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      writeFileSync(path.join(dir, file), text, { mode: file.endsWith('.sh') ? 0o755 : 0o644 });
    }
    return dir;
  }

  daemonPid(): number | undefined {
    try {
      return Number(readFileSync(path.join(this.home, 'berthd.pid'), 'utf8').split(' ')[0]);
    } catch {
      return undefined;
    }
  }

  /**
   * Removes every app (stopping its processes), stops the proxy and berthd, deletes the
   * directory. Then, as a safety net, ends any process this home started that is still
   * there (berthd, proxy, instances, test helpers tagged BERTH_TEST_HOME), so no test run
   * leaves a listener behind for the next one.
   */
  async cleanup(): Promise<void> {
    const apps = await this.cli('ps', '--json');
    if (apps.code === 0) {
      const names = new Set((JSON.parse(apps.stdout) as Array<{ app: string }>).map((r) => r.app));
      for (const name of names) await this.cli('rm', name, '--purge');
    }
    await this.cli('proxy', 'stop');
    await this.cli('daemon', 'stop');
    const marker = createHash('sha256').update(this.home).digest('hex').slice(0, 12) + ':';
    for (const pid of listPids()) {
      if (pid === process.pid) continue;
      const mine =
        procEnvValue(pid, 'BERTH_HOME') === this.home ||
        procEnvValue(pid, 'BERTH_TEST_HOME') === this.home ||
        procEnvValue(pid, 'BERTH_INSTANCE')?.startsWith(marker);
      if (mine) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    // BERTH_TEST_KEEP=1 keeps the home (berthd's log, the store) to read after a failure.
    if (process.env.BERTH_TEST_KEEP) process.stderr.write(`kept ${this.root}\n`);
    else rmSync(this.root, { recursive: true, force: true });
  }
}

/** A node one-liner program, quoted for a YAML flow string. */
export const NODE = process.execPath;

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * How long a wait may take at the least before it counts as a failure. Tests are not timed (speed is
 * bench/'s business): a bound only stops a test that would wait forever, so it is generous even when a
 * caller names a shorter one, and a loaded machine never turns a slow "yes" into a failure.
 */
const MIN_WAIT_MS = 30_000;

/** Polls `fn` until it returns a truthy value or the bound (at least MIN_WAIT_MS) passes. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T> | T,
  timeoutMs = 10_000,
  everyMs = 50,
): Promise<NonNullable<T>> {
  const bound = Math.max(timeoutMs, MIN_WAIT_MS);
  const deadline = Date.now() + bound;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${bound} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`,
      );
    await sleep(everyMs);
  }
}

/** Starts a process we own (a "foreign" listener, say) and returns it. */
export function startProcess(argv: string[], env: NodeJS.ProcessEnv = process.env) {
  return spawn(argv[0] as string, argv.slice(1), { env, stdio: 'ignore', detached: false });
}

/** Fails with everything the command printed when it did not exit 0. */
export function assertOk(r: CliResult, label = ''): void {
  if (r.code !== 0)
    throw new Error(`${label ? label + ': ' : ''}berth exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}
