import { randomBytes } from 'node:crypto';
import { BerthError } from '../../core/errors.js';
import type { UnixIds } from '../../system/users.js';
import type { DatabaseBinaries } from '../../system/database-binaries.js';
import { runTool } from './files.js';
import { pgConnection } from './postgres.js';

/** A running cluster as its tools reach it: over TCP on 127.0.0.1 with the password, as `ids`. */
export interface PgAccess {
  readonly port: number;
  readonly password: string;
  readonly ids: UnixIds | undefined;
}

/** Tables and rows: of a database (its user tables), or of a dump (its tables' data). */
export interface PgCounts {
  readonly tables: number;
  readonly rows: number;
}

const TOOL_PATH = '/usr/bin:/bin';

/** The user tables of a database: ordinary tables outside the system schemas (those pg_dump dumps the data of). */
const USER_TABLES = `FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'`;

/** Each user table counted on its own (ONLY: an inheriting table's rows are counted once, as its own). */
const COUNTS = `SELECT count(*), coalesce(sum((xpath('/row/c/text()', query_to_xml(
  format('SELECT count(*) AS c FROM ONLY %I.%I', n.nspname, c.relname), false, true, '')))[1]::text::bigint), 0)
  ${USER_TABLES}`;

/** Runs one statement with psql; its unaligned output, trimmed. */
export async function psql(bin: DatabaseBinaries, c: PgAccess, sql: string, database?: string): Promise<string> {
  let out = '';
  const r = await runTool(
    [bin.client, '-X', '-Atq', '-v', 'ON_ERROR_STOP=1', ...pgConnection('127.0.0.1', c.port, database), '-c', sql],
    {
      ids: c.ids,
      env: { PATH: TOOL_PATH, PGPASSWORD: c.password },
      onStdout: (chunk) => {
        out = (out + chunk.toString()).slice(-100_000);
      },
      timeoutMs: 30 * 60_000,
    },
  );
  if (r.code !== 0)
    throw new BerthError('failed', 'psql_failed', `psql on port ${c.port} failed: ${r.stderr || `exit ${r.code}`}`);
  return out.trim();
}

function parseCounts(text: string): PgCounts {
  const [tables, rows] = text.split('|').map(Number);
  return { tables: tables ?? NaN, rows: rows ?? NaN };
}

/** The user tables (and their rows) of the cluster's database, now. */
export async function databaseCounts(bin: DatabaseBinaries, c: PgAccess, database?: string): Promise<PgCounts> {
  return parseCounts(await psql(bin, c, COUNTS, database));
}

/** The number of user tables of the cluster's database, now (no table read: what a backup asks before its dump). */
export async function tableCount(bin: DatabaseBinaries, c: PgAccess): Promise<number> {
  return Number(await psql(bin, c, `SELECT count(*) ${USER_TABLES}`));
}

/**
 * What a custom-format dump holds: its tables' data read back with pg_restore (as `ids`, the
 * dump as its stdin), one COPY block per table, one line per row.
 */
export async function dumpCounts(bin: DatabaseBinaries, file: string, ids: UnixIds | undefined): Promise<PgCounts> {
  let tables = 0;
  let rows = 0;
  let inCopy = false;
  let rest = '';
  const r = await runTool([bin.restore as string, '--data-only', '-f', '-'], {
    ids,
    env: { PATH: TOOL_PATH },
    input: file,
    onStdout: (chunk) => {
      const lines = (rest + chunk.toString('latin1')).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        if (inCopy) {
          if (line === '\\.') inCopy = false;
          else rows++;
        } else if (line.startsWith('COPY ') && line.endsWith(' FROM stdin;')) {
          inCopy = true;
          tables++;
        }
      }
    },
    timeoutMs: 6 * 60 * 60_000,
  });
  if (r.code !== 0)
    throw new BerthError(
      'failed',
      'backup_unverified',
      `pg_restore cannot read the dump: ${r.stderr || `exit ${r.code}`}`,
    );
  return { tables, rows };
}

/**
 * Restores a dump into a scratch database of the running cluster (made for it, named at random,
 * dropped after, whatever happened), and counts its tables and rows there.
 */
export async function scratchRestore(bin: DatabaseBinaries, c: PgAccess, file: string): Promise<PgCounts> {
  const scratch = `berth_verify_${randomBytes(6).toString('hex')}`;
  await psql(bin, c, `CREATE DATABASE ${scratch}`);
  try {
    const r = await runTool(
      [bin.restore as string, '--no-owner', '--exit-on-error', ...pgConnection('127.0.0.1', c.port, scratch)],
      { ids: c.ids, env: { PATH: TOOL_PATH, PGPASSWORD: c.password }, input: file, timeoutMs: 6 * 60 * 60_000 },
    );
    if (r.code !== 0)
      throw new BerthError(
        'failed',
        'backup_unverified',
        `pg_restore into a scratch database failed: ${r.stderr || `exit ${r.code}`}`,
      );
    return await databaseCounts(bin, c, scratch);
  } finally {
    await psql(bin, c, `DROP DATABASE IF EXISTS ${scratch} WITH (FORCE)`);
  }
}
