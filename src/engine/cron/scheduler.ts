import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { CronJobSpec } from '../../config/manifest-types.js';
import { storedManifest } from '../../config/stored-manifest.js';
import { latestDue, nextDue } from '../../config/cron-schedule.js';
import type { CronJobStatus } from '../../core/cron-status.js';
import { describe } from '../../core/errors.js';
import type { RotationOptions } from '../../runtime/log-writer.js';
import { tailLines } from '../../runtime/log-files.js';
import { launch, stopProcesses } from '../../runtime/process-runner.js';
import type { EnvironmentRow } from '../../store/apps-repo.js';
import type { CronRunRow } from '../../store/cron-repo.js';
import type { Store } from '../../store/store.js';
import type { HomeLayout } from '../../system/paths.js';
import { isSameProcessAlive } from '../../system/proc.js';
import type { AppUsers } from '../app-users.js';
import type { ReleaseExec } from '../release-exec.js';
import type { CronClock } from './clock.js';
import { jobStatuses } from './status.js';

/** How late (real time) a run may still start after it was due: a berthd restart at the minute still runs it. */
const START_DEADLINE_REAL_MS = 5_000;
/** The longest a timer waits before the scheduler looks again (a timer keeps at most ~24.8 days). */
const MAX_SLEEP_MS = 3_600_000;

export interface CronDeps {
  readonly store: Store;
  readonly layout: HomeLayout;
  readonly exec: ReleaseExec;
  readonly clock: CronClock;
  readonly log: Logger;
  readonly users?: AppUsers | undefined;
  readonly rotation?: RotationOptions | undefined;
  /** An app's output as Berth may show it (its secrets out). */
  readonly redact: (app: string, text: string) => string;
}

/**
 * Runs the `cron:` jobs of every environment's current release on schedule (UTC), as their
 * service runs (see ReleaseExec), output to `cron-<job>.log` in the environment's log dir.
 * Each run is claimed in the store (job, environment, due minute) before it starts, so a minute
 * runs once, whichever berthd sees it. A job still running when its next run is due makes that
 * run skipped (recorded, and an event) unless it allows overlap; a failure is an event. Jobs
 * are detached like instances: they outlive berthd, and the next one watches them to their end.
 * It wakes for the next due run only (and when poked after a deployment), never on a poll.
 */
export class CronScheduler {
  readonly #d: CronDeps;
  readonly #jobs = new Map<number, { number: number; jobs: readonly CronJobSpec[] }>();
  /** Runs this berthd launched and is starting or watching, by run id. */
  readonly #own = new Set<number>();
  /** Runs an earlier berthd started that still run: their exit is polled. */
  readonly #adopted = new Map<number, CronRunRow>();
  #timer: NodeJS.Timeout | undefined;
  #poll: NodeJS.Timeout | undefined;
  #queue: Promise<void> = Promise.resolve();
  #stopped = false;
  /** Environments being removed: no run starts in them; a run they had ends (see `end`) with this note. */
  readonly #closed = new Map<number, string>();

  constructor(deps: CronDeps) {
    this.#d = deps;
  }

  logFile(app: string, env: string, job: string): string {
    return path.join(this.#d.layout.logDir(app, env), `cron-${job}.log`);
  }

  /** At berthd start: closes or watches the runs an earlier berthd left, then schedules. */
  async start(): Promise<void> {
    for (const r of await this.#d.store.cron.running()) {
      if (r.pid !== null && r.startTicks !== null && isSameProcessAlive(r.pid, r.startTicks))
        this.#adopted.set(r.id, r);
      else await this.#lost(r);
    }
    if (this.#adopted.size > 0) this.#poll = setInterval(() => void this.#checkAdopted(), 1000);
    this.poke();
  }

  /** Looks at the schedules now (after a deployment: its release may bring jobs). */
  poke(): void {
    this.#queue = this.#queue
      .then(() => (this.#stopped ? undefined : this.#tick()))
      .catch((err) => this.#d.log.error({ err: describe(err) }, 'cron: scheduling failed'));
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#poll);
  }

  /**
   * Ends the runs of environments being removed (`berth rm`, `berth env rm`) and starts none
   * there until `reopen`: a job never outlives its app, nor writes into what is being deleted.
   */
  async end(envIds: readonly number[], why: string): Promise<void> {
    for (const id of envIds) this.#closed.set(id, why);
    await this.#queue; // a run being claimed or launched now is in the store once the queue is through
    const runs = (await Promise.all(envIds.map((id) => this.#d.store.cron.running(id)))).flat();
    await Promise.all(
      runs.map(async (r) => {
        const marker = this.#d.exec.marker('cron', r.id);
        const ref = r.pid !== null && r.startTicks !== null ? { pid: r.pid, startTicks: r.startTicks } : null;
        await stopProcesses(ref, marker, 5000);
        this.#adopted.delete(r.id);
        await this.#d.store.cron.update(r.id, { status: 'failed', finished_at: Date.now(), note: `ended: ${why}` });
      }),
    );
  }

  /** Runs may start again in these environments (their removal failed and put them back). */
  reopen(envIds: readonly number[]): void {
    for (const id of envIds) this.#closed.delete(id);
    this.poke();
  }

  /** The jobs of an environment's current release (none before its first deploy). */
  async jobs(env: EnvironmentRow): Promise<readonly CronJobSpec[]> {
    return env.currentReleaseId === null ? [] : ((await this.#release(env.currentReleaseId))?.jobs ?? []);
  }

  /** The jobs of an environment's current release with their last run and next run (`berth cron ls`). */
  async status(env: EnvironmentRow): Promise<CronJobStatus[]> {
    return jobStatuses(this.#d.store, env, await this.jobs(env), this.#d.clock.now());
  }

  async #release(id: number): Promise<{ number: number; jobs: readonly CronJobSpec[] } | undefined> {
    let r = this.#jobs.get(id);
    if (!r) {
      const row = await this.#d.store.releases.get(id);
      if (!row) return undefined;
      r = { number: row.number, jobs: storedManifest(row.manifest).cron };
      if (this.#jobs.size > 1000) this.#jobs.clear();
      this.#jobs.set(id, r); // releases never change
    }
    return r;
  }

  async #tick(): Promise<void> {
    clearTimeout(this.#timer);
    const { clock } = this.#d;
    const now = clock.now();
    const deadline = Math.max(60_000, clock.fromReal(START_DEADLINE_REAL_MS));
    let next = Infinity;
    for (const env of await this.#d.store.apps.environments()) {
      if (env.currentReleaseId === null || this.#closed.has(env.id)) continue;
      const release = await this.#release(env.currentReleaseId);
      for (const job of release?.jobs ?? []) {
        const due = latestDue(job.schedule, now, deadline);
        if (due !== undefined)
          await this.#fire(env, release?.number ?? 0, job, due).catch((err) =>
            this.#d.log.error({ app: env.app, env: env.name, job: job.name, err: describe(err) }, 'cron: run failed'),
          );
        next = Math.min(next, nextDue(job.schedule, now) ?? Infinity);
      }
    }
    if (next === Infinity || this.#stopped) return;
    // A little past the minute, so the clock reads it when the timer fires.
    const wait = Math.min(MAX_SLEEP_MS, Math.max(0, clock.toReal(next - clock.now())) + 5);
    this.#timer = setTimeout(() => this.poke(), wait);
    this.#timer.unref();
  }

  /** Claims the run due at `due` and starts it, or records it skipped; a run claimed before is left alone. */
  async #fire(env: EnvironmentRow, release: number, job: CronJobSpec, due: number): Promise<void> {
    const { store } = this.#d;
    const busy = job.overlap ? undefined : (await store.cron.running(env.id, job.name)).find((r) => this.#runs(r));
    const claim = { environmentId: env.id, job: job.name, dueAt: due, release, at: Date.now() };
    if (busy) {
      const note = `the run due ${iso(busy.dueAt)} still runs${busy.pid !== null ? ` (pid ${busy.pid})` : ''}`;
      const id = await store.write((r) => r.cron.claim({ ...claim, status: 'skipped', note }));
      if (id !== undefined)
        await this.#event(env.app, env.name, 'cron.skipped', `${job.name}: skipped the run due ${iso(due)}: ${note}`);
      return;
    }
    const id = await store.write((r) => r.cron.claim({ ...claim, status: 'running' }));
    if (id === undefined) return; // claimed before (by this berthd or one before it): never twice
    this.#own.add(id);
    try {
      await this.#launch(id, env, job, due);
    } catch (err) {
      this.#own.delete(id);
      const note = `could not start: ${describe(err)}`;
      await store.cron.update(id, { status: 'failed', finished_at: Date.now(), note });
      await this.#event(env.app, env.name, 'cron.failed', `${job.name} (due ${iso(due)}) ${note}`);
    }
  }

  async #launch(id: number, env: EnvironmentRow, job: CronJobSpec, due: number): Promise<void> {
    const { exec, users, store } = this.#d;
    const plan = await exec.plan(env.app, env.name, job.service, exec.marker('cron', id));
    const logFile = this.logFile(env.app, env.name, job.name);
    mkdirSync(path.dirname(logFile), { recursive: true, mode: 0o750 });
    const ids = plan.user;
    users?.rootDirs(ids, [path.dirname(logFile)]);
    const launched = await launch({
      argv: job.argv,
      cwd: plan.cwd,
      env: plan.vars,
      logFile,
      rotation: this.#d.rotation,
      uid: ids?.uid,
      gid: ids?.gid,
    });
    const recorded = store.cron.update(id, { pid: launched.pid, start_ticks: launched.startTicks });
    launched.child.once('exit', (code, signal) => {
      void Promise.all([recorded, launched.logged])
        .then(() => this.#finish(id, env, job, due, code, signal, logFile))
        .catch((err) =>
          this.#d.log.error({ app: env.app, job: job.name, err: describe(err) }, 'cron: recording a run failed'),
        );
    });
    users?.ownFile(ids, logFile, 0o640);
    await recorded;
  }

  async #finish(
    id: number,
    env: EnvironmentRow,
    job: CronJobSpec,
    due: number,
    code: number | null,
    signal: string | null,
    logFile: string,
  ): Promise<void> {
    this.#own.delete(id);
    if (this.#closed.has(env.id)) return; // ended by `end`, which records it
    const ok = code === 0;
    await this.#d.store.cron.update(id, {
      status: ok ? 'succeeded' : 'failed',
      finished_at: Date.now(),
      exit_code: code,
      signal,
    });
    await this.#d.store.cron.prune(env.id, job.name);
    if (ok) return;
    const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
    const lines = tailLines(logFile, 5).map((l) => `  ${l}`);
    await this.#event(
      env.app,
      env.name,
      'cron.failed',
      `${job.name} (due ${iso(due)}) ${how}${lines.length ? `; last log lines:\n${lines.join('\n')}` : ''}`,
    );
  }

  /** Whether a run marked running really runs: launched here and not ended, or its process alive. */
  #runs(r: CronRunRow): boolean {
    if (this.#own.has(r.id)) return true;
    return r.pid !== null && r.startTicks !== null && isSameProcessAlive(r.pid, r.startTicks);
  }

  async #checkAdopted(): Promise<void> {
    for (const [id, r] of this.#adopted) {
      if (r.pid !== null && r.startTicks !== null && isSameProcessAlive(r.pid, r.startTicks)) continue;
      this.#adopted.delete(id);
      await this.#lost(r).catch(() => undefined);
    }
    if (this.#adopted.size === 0) clearInterval(this.#poll);
  }

  /** A run whose end no berthd saw: it is over, and how it ended is not known. */
  async #lost(r: CronRunRow): Promise<void> {
    await this.#d.store.cron.update(r.id, {
      status: 'unknown',
      finished_at: Date.now(),
      note: 'it ended while berthd was not watching (berthd restarted): its exit status is unknown',
    });
  }

  async #event(app: string, env: string, kind: string, message: string): Promise<void> {
    const text = this.#d.redact(app, message);
    await this.#d.store.events.append({ at: Date.now(), app, environment: env, service: null, kind, message: text });
    this.#d.log.info({ app, env, kind }, text);
  }
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/:00\.000Z$/, 'Z');
