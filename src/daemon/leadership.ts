import { hostname } from 'node:os';
import type pino from 'pino';
import { BerthError } from '../core/errors.js';
import { leaderLock } from '../store/leader-lock.js';
import type { StoreLocation } from '../store/store-url.js';

/**
 * Which berthd acts on a store that several share. On PostgreSQL the leader is the one whose
 * dedicated connection holds an advisory lock: the others wait for it in `pg_advisory_lock`, and
 * the server hands it to one of them as soon as the leader's session ends (its berthd killed,
 * its host gone once TCP tells), with no timer of ours. On SQLite there is one berthd: it leads.
 */
export interface Leadership {
  /** True once this berthd holds the lock (at once on SQLite). */
  readonly leading: boolean;
  /** Resolves when this berthd leads (at once when it does already). */
  readonly led: Promise<void>;
  /** The leader's name (`berthd <host> pid <pid>`, with its API address when it has one), or undefined when none leads. */
  leader(): Promise<string | undefined>;
  /** Throws the follower's refusal of a change, naming the leader (also while it takes over); nothing on the leader. */
  assertLeading(): Promise<void>;
  /** A follower that now leads has recovered what the previous leader left: it takes changes from here on. */
  tookOver(): void;
  /** Ends the campaign (the lock goes with the connection). */
  close(): Promise<void>;
}

/** A lone berthd (SQLite store): it leads from the start. */
function sole(): Leadership {
  return {
    leading: true,
    led: Promise.resolve(),
    leader: async () => undefined,
    assertLeading: async () => undefined,
    tookOver: () => undefined,
    close: async () => undefined,
  };
}

/**
 * Joins the election for the store at `where`. `name` says who this berthd is in the refusals the
 * others give; `lost` runs when the leader's connection breaks (it must stop acting: berthd exits).
 */
export async function campaign(
  where: StoreLocation,
  o: { apiListen?: string | undefined; log: pino.Logger; lost: (why: string) => void },
): Promise<Leadership> {
  if (where.kind === 'sqlite') return sole();
  const name = `berthd ${hostname()} pid ${process.pid}${o.apiListen ? ` api ${o.apiListen}` : ''}`.slice(0, 63);
  let leading = false;
  let closing = false;
  const ended = (why: string) => {
    if (closing) return;
    closing = true;
    if (leading) o.lost(why); // a follower's broken wait rejects `led` (followUntilLeading)
  };
  const lock = await leaderLock(where.url, name, ended);
  leading = lock.heldAtOnce;
  let acting = leading; // a berthd that leads from its start serves its API only once it recovered
  const led = lock.acquired.then(() => {
    leading = true;
  });
  const leader = () => lock.holder();
  return {
    get leading() {
      return leading;
    },
    led,
    leader,
    async assertLeading() {
      if (acting) return;
      if (leading)
        throw new BerthError(
          'unavailable',
          'taking_over',
          'this berthd is taking over the lead: recovering what the previous leader left',
          {
            hint: 'try again in a moment',
          },
        );
      const who = await leader().catch(() => undefined);
      throw new BerthError(
        'unavailable',
        'not_leader',
        `this berthd does not lead: ${who ?? 'another berthd'} acts on the shared store, and changes go to it`,
        { hint: 'send this to the leader (reads work here); this berthd takes over by itself when the leader stops' },
      );
    },
    tookOver() {
      acting = true;
    },
    async close() {
      closing = true;
      await lock.close();
    },
  };
}

/** A follower's wait: once it leads, `takeOver` runs (the recovery, then the actors). A broken wait or take-over ends berthd. */
export function followUntilLeading(l: Leadership, log: pino.Logger, takeOver: () => Promise<void>): void {
  void l.leader().then(
    (leader) => log.info({ leader }, 'following: another berthd leads; reads are served here, changes are refused'),
    () => undefined,
  );
  l.led
    .then(async () => {
      log.info('leading now: recovering what the previous leader left, then acting');
      await takeOver();
      l.tookOver();
      log.info('leader ready');
    })
    .catch((err: unknown) => {
      log.error({ err: err instanceof Error ? err.message : String(err) }, 'taking over the lead failed: berthd stops');
      process.exit(1);
    });
}

/**
 * The leader's connection to the store broke: its lock is gone and another berthd may lead now,
 * so this one must not act a moment longer. berthd exits (its apps run on); a supervisor starts it again as a follower.
 */
export function lostLead(log: pino.Logger, why: string): never {
  log.error(
    { why },
    'lost the lead of the shared store (the lock went with its connection): berthd stops; apps run on',
  );
  process.exit(1);
}
