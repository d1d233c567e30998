import type { Command } from 'commander';
import { constants } from 'node:os';
import type { ApiClient } from '../api/client.js';
import { ApiError } from '../api/client.js';
import type { RunFrame } from '../api/run-routes.js';
import type { CronJobStatus, CronRunView } from '../core/cron-status.js';
import { table } from './render.js';

interface Io {
  readonly client: ApiClient;
  readonly ready: () => Promise<void>;
  readonly print: (value: unknown, human: () => string) => void;
}

/** `berth run`: one-off commands in the current release; `berth cron ls`: scheduled jobs. */
export function registerRunCommands(program: Command, io: Io): void {
  program
    .command('run')
    .description(
      "run a command in the app's current release as its service runs (env, secrets, $DATA_DIR, user); exits with its code",
    )
    .argument('<app>')
    .argument(
      '<command...>',
      'the program and its arguments, after `--` when they have options: berth run shop -- ls -l',
    )
    .option('--env <env>', 'the environment (default production)')
    .option('--service <service>', 'whose env and user (default: the first service that runs a process)')
    .action(async (app: string, argv: string[], opts: { env?: string; service?: string }) => {
      await io.ready();
      const body = { argv, ...(opts.env ? { env: opts.env } : {}), ...(opts.service ? { service: opts.service } : {}) };
      let buffer = '';
      let exit: { code: number | null; signal: string | null } | undefined;
      for await (const chunk of io.client.stream(`/v1/apps/${encodeURIComponent(app)}/run`, 'POST', body)) {
        const lines = (buffer + chunk).split('\n');
        buffer = lines.pop() ?? '';
        for (const line of lines.filter(Boolean)) {
          const frame = JSON.parse(line) as RunFrame;
          if ('stdout' in frame) process.stdout.write(frame.stdout);
          else if ('stderr' in frame) process.stderr.write(frame.stderr);
          else exit = frame.exit;
        }
      }
      if (!exit) throw new ApiError(0, 'connection_lost', 'berthd ended the command without its exit status');
      const signal = exit.signal ? constants.signals[exit.signal as keyof typeof constants.signals] : undefined;
      process.exitCode = exit.code ?? 128 + (signal ?? 0);
    });

  program
    .command('cron')
    .description('scheduled jobs (`cron:` in berth.yaml), run by berthd in UTC')
    .command('ls')
    .description('the jobs of an app: schedule, last run, its exit code, next run (times UTC)')
    .argument('<app>')
    .option('--env <env>', 'the environment (default production)')
    .option('--json', 'print JSON')
    .action(async (app: string, opts: { env?: string }) => {
      const q = opts.env ? `?env=${encodeURIComponent(opts.env)}` : '';
      await io.ready();
      const jobs = await io.client.call<CronJobStatus[]>('GET', `/v1/apps/${encodeURIComponent(app)}/cron${q}`);
      io.print(jobs, () =>
        jobs.length === 0
          ? `${app} has no cron jobs in its current release (add \`cron:\` to berth.yaml)`
          : table(
              ['JOB', 'SCHEDULE', 'SERVICE', 'LAST RUN', 'STATUS', 'EXIT', 'NEXT RUN'],
              jobs.map((j) => [
                j.name,
                j.schedule,
                j.service,
                j.lastRun ? when(j.lastRun.dueAt) : '-',
                j.lastRun ? j.lastRun.status : 'never run',
                j.lastExit ? exitText(j.lastExit) : '-',
                j.nextRun === null ? 'never' : when(j.nextRun),
              ]),
            ),
      );
    });
}

const when = (ms: number) => new Date(ms).toISOString().replace(/:\d\d\.\d+Z$/, 'Z');

function exitText(r: CronRunView): string {
  return r.signal ? `killed by ${r.signal}` : r.exitCode === null ? '-' : String(r.exitCode);
}
