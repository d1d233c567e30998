import { z } from 'zod';
import { scheduleProblem } from './cron-schedule.js';
import type { Problem } from './manifest-errors.js';
import { DEFAULT_BACKUP, type BackupSpec } from './manifest-basics.js';

export { DEFAULT_BACKUP, type BackupSpec };

/** Where backups go: `local` (a restic repository under BERTH_HOME) or a restic repository URL. */
const TARGET = /^(local|(rest|sftp|s3):[^\s\0]+)$/;

const keep = z.number().int().min(0).max(1000);

export const backupSchema = z
  .strictObject({
    schedule: z
      .string()
      .min(1)
      .max(200)
      .optional()
      .describe('When berthd backs up every environment of the app, in UTC cron syntax. Default "0 3 * * *" (daily).'),
    keep: z
      .strictObject({
        daily: keep.optional().describe('Daily snapshots kept. Default 7.'),
        weekly: keep.optional().describe('Weekly snapshots kept. Default 4.'),
        monthly: keep.optional().describe('Monthly snapshots kept. Default 6.'),
      })
      .optional()
      .describe('Retention, applied with `restic forget --prune` after each backup, per environment.'),
    to: z
      .string()
      .max(2048)
      .regex(TARGET)
      .optional()
      .describe(
        'The restic repository: "local" (default: under BERTH_HOME, its password generated and kept there) or "rest:...", "sftp:...", "s3:..." (its password the secret RESTIC_PASSWORD of `berth secrets`; for s3 also AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).',
      ),
  })
  .describe(
    "Scheduled, verified backups of each environment's $DATA_DIR (SQLite through its backup API, other files as they are) with restic. Default none (`berth backup run` still works, to local).",
  );

export type BackupInput = z.input<typeof backupSchema>;

export function normalizeBackup(b: BackupInput | undefined): BackupSpec | null {
  if (b === undefined) return null;
  return {
    schedule: b.schedule?.trim() ?? DEFAULT_BACKUP.schedule,
    keep: {
      daily: b.keep?.daily ?? DEFAULT_BACKUP.keep.daily,
      weekly: b.keep?.weekly ?? DEFAULT_BACKUP.keep.weekly,
      monthly: b.keep?.monthly ?? DEFAULT_BACKUP.keep.monthly,
    },
    to: b.to ?? 'local',
  };
}

/** A schedule that parses. */
export function backupProblems(b: BackupInput | undefined): Problem[] {
  const why = b?.schedule === undefined ? undefined : scheduleProblem(b.schedule);
  if (why === undefined) return [];
  return [
    {
      path: ['backup', 'schedule'],
      message: `${JSON.stringify(b?.schedule)}: ${why}`,
      hint: 'e.g. "0 3 * * *" (03:00 UTC daily); times are UTC',
    },
  ];
}
