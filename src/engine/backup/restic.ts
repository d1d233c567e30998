import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BerthError } from '../../core/errors.js';
import { runCommand } from '../../system/command.js';

/** A restic repository and how to open it: its URL, and its password and credentials (never on a command line). */
export interface ResticRepo {
  /** The repository as restic takes it: a local path, or "rest:...", "sftp:...", "s3:...". */
  readonly url: string;
  /** RESTIC_PASSWORD or RESTIC_PASSWORD_FILE, and for s3 its AWS_* keys. */
  readonly env: Readonly<Record<string, string>>;
  /** Restic's cache, under BERTH_HOME. */
  readonly cacheDir: string;
}

export interface ResticSnapshot {
  readonly id: string;
  readonly time: string;
  readonly hostname: string;
  readonly paths: readonly string[];
  readonly tags?: readonly string[];
}

/** A URL with its user:password@ part out, for messages. */
export const shownUrl = (url: string) => url.replace(/\/\/[^/@\s]*@/, '//***@');

/** The password of a local repository: made once (32 random bytes), kept beside it, readable by root only. */
export function localPasswordFile(dir: string): string {
  const file = path.join(dir, 'password');
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(file, randomBytes(32).toString('base64url') + '\n', { mode: 0o600, flag: 'wx' });
  }
  readFileSync(file); // readable, or this fails here rather than inside restic
  return file;
}

/** Repositories known to exist (each restic command costs a key derivation: ~1 s). */
const ENSURED = new Set<string>();

/** Runs restic on one repository: argv only, the password in the environment, output parsed from --json. */
export class Restic {
  readonly #repo: ResticRepo;
  constructor(repo: ResticRepo) {
    this.#repo = repo;
  }

  /**
   * Runs one restic command. A restic killed while it held a lock (berthd stopped or killed mid-backup:
   * its stdout closes and restic dies of SIGPIPE) leaves the lock behind, and every later command would
   * fail on it; so a command refused for a lock is retried once after `restic unlock`, which removes
   * only stale locks (of a process gone from this host, or older than 30 minutes), never a live one.
   */
  async #run(args: readonly string[], what: string, timeoutMs = 3_600_000): Promise<string> {
    try {
      return await this.#once(args, what, timeoutMs);
    } catch (err) {
      if (!(err instanceof BerthError) || err.code !== 'restic_locked') throw err;
      await this.#once(['unlock'], 'removing stale locks', 300_000);
      return await this.#once(args, what, timeoutMs);
    }
  }

  async #once(args: readonly string[], what: string, timeoutMs: number): Promise<string> {
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: this.#repo.cacheDir,
      RESTIC_REPOSITORY: this.#repo.url,
      RESTIC_CACHE_DIR: this.#repo.cacheDir,
      ...this.#repo.env,
    };
    let r;
    try {
      r = await runCommand(['restic', ...args], { env, timeoutMs });
    } catch (err) {
      throw new BerthError('failed', 'restic_missing', `${what}: restic does not run (${(err as Error).message})`, {
        hint: 'install restic (Debian: apt install restic)',
      });
    }
    if (r.code !== 0) {
      const why = (r.stderr.trim() || `exit ${r.code ?? r.signal}`).split('\n').slice(-3).join('; ');
      const code = /repository is already locked/.test(r.stderr) ? 'restic_locked' : 'restic_failed';
      throw new BerthError('failed', code, `${what} (repository ${shownUrl(this.#repo.url)}): ${why}`);
    }
    return r.stdout;
  }

  /** Creates the repository unless it exists (once per berthd and repository). */
  async ensure(): Promise<void> {
    if (ENSURED.has(this.#repo.url)) return;
    await this.#ensure();
    ENSURED.add(this.#repo.url);
  }

  async #ensure(): Promise<void> {
    if (path.isAbsolute(this.#repo.url) && existsSync(path.join(this.#repo.url, 'config'))) return;
    try {
      await this.#run(['cat', 'config', '--no-lock'], 'opening the repository', 60_000);
    } catch (err) {
      if (!/(Is there a repository|does not exist|no such file|unable to open config|404)/i.test(String(err)))
        throw err;
      await this.#run(['init'], 'creating the repository', 120_000);
    }
  }

  /** Backs up `dir`; the new snapshot's id. */
  async backup(dir: string, host: string, tags: readonly string[]): Promise<string> {
    const out = await this.#run(
      ['backup', '--json', '--host', host, ...tags.flatMap((t) => ['--tag', t]), dir],
      'restic backup',
    );
    for (const line of out.split('\n').reverse()) {
      if (!line.startsWith('{')) continue;
      const m = JSON.parse(line) as { message_type?: string; snapshot_id?: string };
      if (m.message_type === 'summary' && m.snapshot_id) return m.snapshot_id;
    }
    throw new BerthError('failed', 'restic_failed', 'restic backup named no snapshot');
  }

  async snapshots(host: string): Promise<ResticSnapshot[]> {
    return JSON.parse(await this.#run(['snapshots', '--json', '--host', host], 'listing snapshots', 300_000)) as
      ResticSnapshot[] | [];
  }

  /** One snapshot by its id (or a prefix of it). */
  async snapshot(id: string): Promise<ResticSnapshot | undefined> {
    const all = JSON.parse(await this.#run(['snapshots', '--json', id], `reading snapshot ${id}`, 300_000)) as
      ResticSnapshot[] | null;
    return all?.[0];
  }

  /** The repository's structure and, of its data, the part `subset` names (e.g. "1/10" or "100%"). */
  async check(subset: string): Promise<void> {
    await this.#run(['check', `--read-data-subset=${subset}`], 'restic check');
  }

  /** The snapshot restored into `target` (its files under target + the path it was taken of). */
  async restore(id: string, target: string): Promise<void> {
    await this.#run(['restore', id, '--target', target], `restoring snapshot ${id}`);
  }

  /** Applies the retention to the host's snapshots and prunes what no snapshot keeps. */
  async forget(host: string, keep: { daily: number; weekly: number; monthly: number }): Promise<void> {
    await this.#run(
      [
        'forget',
        '--host',
        host,
        '--group-by',
        'host',
        '--keep-daily',
        String(keep.daily),
        '--keep-weekly',
        String(keep.weekly),
        '--keep-monthly',
        String(keep.monthly),
        '--prune',
      ],
      'restic forget --prune',
    );
  }
}
