import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { BackupResult } from '../../src/engine/backup/backups.js';
import { NODE, REPO, type TestHome } from './home.js';

export const SQLITE = path.join(REPO, 'node_modules', 'better-sqlite3');
const APP = path.join(REPO, 'test', 'fixtures', 'sqlite-app.cjs');

/** An app keeping rows in SQLite in its $DATA_DIR (test/fixtures/sqlite-app.cjs), and the CLI calls the backup tests make. */
export function sqliteApp(home: TestHome) {
  const manifest = (app: string, backup: string, notify?: number) =>
    `app: ${app}\n${notify ? `notify: ["http://127.0.0.1:${notify}/hook"]\n` : ''}services:\n  web:\n    run: ["${NODE}", "${APP}"]\n    env: { BETTER_SQLITE3: "${SQLITE}" }\n    health: { http: /count }\nbackup: ${backup}\n`;
  const dataDir = (app: string) => path.join(home.home, 'data', app, 'production');
  const port = async (app: string): Promise<number> => {
    const ps = await home.json<Array<{ port: number | null; current: boolean; state: string }>>('ps', app);
    const p = ps.find((v) => v.current && v.state === 'healthy')?.port;
    assert.ok(p, `${app} runs: ${JSON.stringify(ps)}`);
    return p;
  };
  /** GET /count, or POST /add?n=... or /clear: the rows after it. */
  const rows = async (app: string, action = 'count'): Promise<number> => {
    const res = await fetch(`http://127.0.0.1:${await port(app)}/${action}`, {
      method: action === 'count' ? 'GET' : 'POST',
    });
    return Number(await res.text());
  };
  const backupRun = async (app: string): Promise<{ code: number; r: BackupResult }> => {
    const out = await home.cli('backup', 'run', app, '--json');
    return { code: out.code, r: JSON.parse(out.stdout) as BackupResult };
  };
  /** restic itself on an app's local repository. */
  const restic = (app: string, args: string[]): string => {
    const env = {
      ...process.env,
      RESTIC_REPOSITORY: path.join(home.home, 'backups', app, 'repo'),
      RESTIC_PASSWORD_FILE: path.join(home.home, 'backups', app, 'password'),
      RESTIC_CACHE_DIR: path.join(home.root, 'restic-cache'),
    };
    return existsSync(env.RESTIC_REPOSITORY) ? execFileSync('restic', args, { env, encoding: 'utf8' }) : '';
  };
  return { manifest, dataDir, port, rows, backupRun, restic, NODE };
}
