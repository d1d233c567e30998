/** One run of a `cron:` job as `berth cron ls` shows it. Times are ms since the epoch (UTC). */
export interface CronRunView {
  /** The minute it was due. */
  readonly dueAt: number;
  readonly release: number;
  /** 'running' | 'succeeded' | 'failed' | 'skipped' (the previous run still ran) | 'unknown' (it ended while berthd was restarting). */
  readonly status: string;
  readonly startedAt: number;
  readonly finishedAt: number | null;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly note: string | null;
}

/** A `cron:` job of an environment's current release, with its last run and its next. */
export interface CronJobStatus {
  readonly app: string;
  readonly env: string;
  readonly name: string;
  readonly schedule: string;
  readonly service: string;
  /** What it runs: the argv (a `run:` string shows as ["sh", "-c", <run>]). */
  readonly argv: readonly string[];
  readonly overlap: boolean;
  /** The newest run, whatever became of it; null before the first. */
  readonly lastRun: CronRunView | null;
  /** The newest run that ran to its end (succeeded or failed), for its exit code. */
  readonly lastExit: CronRunView | null;
  /** When it is next due; null when the schedule never comes again. */
  readonly nextRun: number | null;
}
