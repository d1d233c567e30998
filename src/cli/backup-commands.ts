import type { Command } from 'commander';
import { humanBytes } from '../core/image-results.js';
import type { BackupResult, BackupView, RestoreResult } from '../core/backup-results.js';
import { table } from './render.js';
import type { Io } from './secret-commands.js';

const when = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
const q = (s: string) => encodeURIComponent(s);

function renderRun(r: BackupResult): string {
  const lines =
    r.status === 'verified'
      ? [`backup of ${r.app}/${r.env}: snapshot ${r.snapshot}, ${humanBytes(r.size ?? 0)}, verified`]
      : [
          `backup of ${r.app}/${r.env} FAILED${r.snapshot ? ` (snapshot ${r.snapshot} is not verified)` : ''}: ${r.error}`,
        ];
  if (r.holds.length) lines.push('holds:', ...r.holds.map((h) => `  ${h}`));
  if (r.verification.length) lines.push('verification:', ...r.verification.map((v) => `  ${v}`));
  return lines.join('\n');
}

function renderRestore(r: RestoreResult): string {
  const head =
    r.status === 'done'
      ? `restored ${r.app}/${r.env} from snapshot ${r.snapshot}`
      : `restore of ${r.app}/${r.env} from ${r.snapshot} FAILED: ${r.error}`;
  return [head, ...r.steps.map((s) => `  ${s.name}: ${s.status}`), ...r.restored.map((x) => `  ${x}`)].join('\n');
}

/** `berth backup run|ls|restore`. */
export function registerBackupCommands(program: Command, io: Io): void {
  const backup = program.command('backup').description('verified restic backups of an environment, and restores');
  backup
    .command('run')
    .description('back up an environment now: prints the snapshot, its size, what it holds and its verification')
    .argument('<app>')
    .option('--env <env>', 'the environment', 'production')
    .option('--json', 'print JSON')
    .action(async (app: string, opts: { env: string }) => {
      const r = await io.call<BackupResult>('POST', `/v1/apps/${q(app)}/backups`, { env: opts.env });
      io.print(r, () => renderRun(r));
      if (r.status !== 'verified') process.exitCode = 1;
    });
  backup
    .command('ls')
    .description('the backups of an environment: time (UTC), snapshot, size, verified')
    .argument('<app>')
    .option('--env <env>', 'the environment', 'production')
    .option('--json', 'print JSON')
    .action(async (app: string, opts: { env: string }) => {
      const rows = await io.call<BackupView[]>('GET', `/v1/apps/${q(app)}/backups?env=${q(opts.env)}`);
      io.print(rows, () =>
        rows.length === 0
          ? `${app}/${opts.env} has no backups yet (berth backup run ${app} --env ${opts.env})`
          : table(
              ['TIME', 'SNAPSHOT', 'SIZE', 'VERIFIED', 'HOW', 'HOLDS'],
              rows.map((b) => [
                when(b.time),
                b.snapshot ?? '-',
                b.size === null ? '-' : humanBytes(b.size),
                b.verified ? 'yes' : b.status === 'running' ? 'running' : `no: ${b.error ?? 'failed'}`,
                b.scheduled ? 'scheduled' : 'manual',
                b.holds.join('; '),
              ]),
            ),
      );
    });
  backup
    .command('restore')
    .description(
      "restore an environment's data from a snapshot, as a transaction: its instances stop, the data is replaced, they start and must be healthy; any failure puts the old data back",
    )
    .argument('<app>')
    .argument('<snapshot>', 'the snapshot id (berth backup ls)')
    .option('--env <env>', 'the environment', 'production')
    .option('--json', 'print JSON')
    .action(async (app: string, snapshot: string, opts: { env: string }) => {
      const r = await io.call<RestoreResult>('POST', `/v1/apps/${q(app)}/backups/${q(snapshot)}/restore`, {
        env: opts.env,
      });
      io.print(r, () => renderRestore(r));
      if (r.status !== 'done') process.exitCode = 1;
    });
}
