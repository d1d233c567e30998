import type { Client } from 'pg';

/**
 * The lock that makes one berthd the leader of a shared PostgreSQL store: an advisory lock held on a
 * connection of its own. Taken at once when free, else waited for in `pg_advisory_lock`: the server
 * hands it over as soon as the holder's session ends (its berthd killed, its host gone once TCP tells).
 * The only place besides the store's opening that knows the driver (src/daemon/leadership.ts decides
 * what leading means).
 */
export interface LeaderLock {
  /** True when the lock was free and is held from the start. */
  readonly heldAtOnce: boolean;
  /** Resolves once this session holds the lock; rejects when the wait's connection breaks. */
  readonly acquired: Promise<void>;
  /** The holder's name (its session's application_name), or undefined when none holds it. */
  holder(): Promise<string | undefined>;
  /** Ends the session: the lock goes with it. */
  close(): Promise<void>;
}

/** The advisory lock's two keys: "bert", "h" and 1 (pg_locks shows them as classid, objid). */
const KEYS = [0x62657274, 0x68000001] as const;
const LOCK = `advisory_lock(${KEYS[0]}, ${KEYS[1]})`;

/** Opens the lock's session at `url` as `name`; `ended` is told when that session breaks or ends. */
export async function leaderLock(url: string, name: string, ended: (why: string) => void): Promise<LeaderLock> {
  const { default: pg } = await import('pg');
  const client: Client = new pg.Client({ connectionString: url, application_name: name, keepAlive: true });
  await client.connect();
  client.on('error', (err) => ended(err.message));
  client.on('end', () => ended('the database closed the connection'));
  const tried = await client.query<{ ok: boolean }>(`select pg_try_${LOCK} as ok`);
  const heldAtOnce = tried.rows[0]?.ok === true;
  return {
    heldAtOnce,
    acquired: heldAtOnce ? Promise.resolve() : client.query(`select pg_${LOCK}`).then(() => undefined),
    holder: () => holderName(pg, url),
    close: async () => {
      await client.end().catch(() => undefined);
    },
  };
}

/** Who holds the lock: the application name of the session that holds it, in this database. */
async function holderName(pg: typeof import('pg').default, url: string): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: url, application_name: 'berthd leader lookup' });
  await c.connect();
  try {
    const r = await c.query<{ name: string }>(
      `select a.application_name as name from pg_locks l join pg_stat_activity a on a.pid = l.pid
       where l.locktype = 'advisory' and l.granted and l.classid = $1::oid and l.objid = $2::oid and l.objsubid = 2
         and l.database = (select oid from pg_database where datname = current_database())`,
      [KEYS[0], KEYS[1]],
    );
    return r.rows[0]?.name;
  } finally {
    await c.end().catch(() => undefined);
  }
}
