/** What the backup commands print: results of berthd's backups and restores (the CLI renders them). */

/** What `berth backup run` prints. A failed backup says so (status failed, error); it is never reported done. */
export interface BackupResult {
  readonly app: string;
  readonly env: string;
  readonly status: 'verified' | 'failed';
  readonly snapshot: string | null;
  readonly size: number | null;
  readonly holds: readonly string[];
  readonly verification: readonly string[];
  readonly error?: string;
}

/** One backup as `berth backup ls` shows it. */
export interface BackupView {
  readonly snapshot: string | null;
  readonly time: number;
  readonly size: number | null;
  readonly status: 'running' | 'verified' | 'failed';
  readonly verified: boolean;
  readonly scheduled: boolean;
  readonly holds: readonly string[];
  readonly error?: string;
}

/** The steps of a restore, in order. */
export type RestoreStep = 'fetch' | 'stop' | 'swap' | 'start' | 'commit';

/** What `berth backup restore` prints. */
export interface RestoreResult {
  readonly app: string;
  readonly env: string;
  readonly snapshot: string;
  readonly status: 'done' | 'failed';
  readonly steps: readonly { name: RestoreStep; status: 'pending' | 'running' | 'done' | 'undone' | 'failed' }[];
  readonly restored: readonly string[];
  readonly error?: string;
}
