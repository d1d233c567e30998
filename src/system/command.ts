import { spawn } from 'node:child_process';
import { appendFileSync, closeSync, openSync } from 'node:fs';

/** The result of a command run to completion. */
export interface CommandResult {
  readonly code: number | null;
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CommandOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs?: number;
  /** Send stdout and stderr to this file (appended) instead of capturing them. */
  readonly logFile?: string;
  /** Run as this user and group. */
  readonly uid?: number | undefined;
  readonly gid?: number | undefined;
  /** With logFile: filter each line of output before it is written (secrets out). */
  readonly redact?: (text: string) => string;
  /** Pipe this process's stdout into the command's stdin. */
  readonly stdinFrom?: NodeJS.ReadableStream;
}

/**
 * The one way Berth runs a program: an argv array, never a shell (`shell: false`). The
 * only shell strings are those an app author wrote in `run:` or `build:`, and they arrive
 * here as `["sh", "-c", <their text>]`.
 */
export function runCommand(argv: readonly string[], opts: CommandOptions = {}): Promise<CommandResult> {
  if (opts.logFile && opts.redact)
    return runFiltered(argv, opts as CommandOptions & { logFile: string; redact: (t: string) => string });
  const fd = opts.logFile ? openSync(opts.logFile, 'a', 0o640) : undefined;
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      shell: false,
      stdio: [opts.stdinFrom ? 'pipe' : 'ignore', fd ?? 'pipe', fd ?? 'pipe'],
      ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid } : {}),
    });
    if (fd !== undefined) closeSync(fd);
    if (opts.stdinFrom && child.stdin) opts.stdinFrom.pipe(child.stdin);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.once('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Output through a line filter into the log file (a line split across chunks is filtered whole). */
async function runFiltered(
  argv: readonly string[],
  opts: CommandOptions & { logFile: string; redact: (t: string) => string },
): Promise<CommandResult> {
  appendFileSync(opts.logFile, '', { mode: 0o640 });
  const child = spawn(argv[0] as string, argv.slice(1), {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    shell: false,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid } : {}),
  });
  const pending = { out: '', err: '' };
  const take = (key: 'out' | 'err', chunk: string, end = false) => {
    pending[key] += chunk;
    const cut = end ? pending[key].length : pending[key].lastIndexOf('\n') + 1;
    if (cut <= 0) return;
    appendFileSync(opts.logFile, opts.redact(pending[key].slice(0, cut)));
    pending[key] = pending[key].slice(cut);
  };
  child.stdout.on('data', (c: Buffer) => take('out', c.toString()));
  child.stderr.on('data', (c: Buffer) => take('err', c.toString()));
  const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
  return new Promise((resolve, reject) => {
    child.once('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      take('out', '', true);
      take('err', '', true);
      resolve({ code, signal, stdout: '', stderr: '' });
    });
  });
}
