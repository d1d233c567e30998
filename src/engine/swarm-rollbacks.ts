import { BerthError } from '../core/errors.js';
import type { SwarmServices } from '../runtime/swarm-services.js';
import type { SwarmService } from '../runtime/swarm-types.js';

const poll = () => new Promise((r) => setTimeout(r, 250));

/** A rollback waited for longer than this is reported, not waited for any more. */
const ROLLBACK_MS = 300_000;

const releaseOf = (s: SwarmService) => s.Spec.Labels['berth.release'];

/**
 * Going back from an in-place update of a worker (one Swarm service updated by each release) to the spec it ran
 * before. Swarm rolls a failed update back itself (UpdateConfig.FailureAction rollback): Berth then waits for that
 * rollback and confirms it, and never asks for a second one, which would either conflict with Swarm's (the
 * service's version moved) or, once Swarm's is done, swap the failed spec back in. Berth asks for a rollback
 * only when the service still runs `release`'s spec and none is under way (a later wave failed after the worker
 * updated fine, or a berthd killed mid-update). Every request names the version it read, so it is never applied
 * on top of a change it did not see; every call reads the service again first, so a repeated undo (after a crash)
 * finds the rollback started or done and only confirms it.
 */
export class SwarmRollbacks {
  constructor(readonly services: SwarmServices) {}

  /**
   * Makes the service `name` run the spec before `release`'s again: asks for a rollback if it still runs
   * `release`'s spec and none is under way, and returns the service once Swarm holds the rollback (its spec
   * back, rollback started or completed: Swarm finishes it on its own, a berthd killed now finds it so again),
   * not waiting for the tasks (a recovery at boot would keep berthd from answering for the monitor periods);
   * undefined when the service is gone or never ran `release`'s spec. Throws when Swarm's rollback paused.
   */
  async undo(name: string, release: string): Promise<SwarmService | undefined> {
    for (;;) {
      const s = await this.services.inspect(name);
      if (!s) return undefined;
      const state = s.UpdateStatus?.State;
      if (state === 'rollback_started' || state === 'rollback_paused') return this.confirm(s, release, 'started');
      if (releaseOf(s) !== release) return state === 'rollback_completed' ? s : undefined; // back already, or never updated
      try {
        await this.services.rollback(s);
      } catch (err) {
        const now = await this.services.inspect(name);
        if (now && now.Version.Index !== s.Version.Index) continue; // Swarm moved first (its own rollback): read again
        throw err;
      }
      return this.confirm(s, release, 'started');
    }
  }

  /**
   * Waits until the rollback of `s` (Swarm's or Berth's) `completed` (UpdateStatus rollback_completed), or only
   * `started`, and the spec is no longer `release`'s. Throws when it paused (a task of the previous spec failed
   * too) or took too long.
   */
  async confirm(s: SwarmService, release: string, until: 'started' | 'completed' = 'completed'): Promise<SwarmService> {
    const deadline = Date.now() + ROLLBACK_MS;
    for (;;) {
      const now = await this.services.inspect(s.ID);
      if (!now) throw rollbackFailed(s, 'its Swarm service was removed during the rollback');
      const state = now.UpdateStatus?.State;
      const held = state === 'rollback_completed' || (until === 'started' && state === 'rollback_started');
      if (held && releaseOf(now) !== release) return now;
      if (state === 'rollback_paused')
        throw rollbackFailed(now, `Swarm paused the rollback: ${now.UpdateStatus?.Message ?? 'a task failed'}`);
      if (state !== 'rollback_started' && state !== 'rollback_completed')
        throw rollbackFailed(now, `the service went on to another update (${state ?? 'none'}) during the rollback`);
      if (Date.now() > deadline)
        throw rollbackFailed(now, `Swarm's rollback did not complete in ${ROLLBACK_MS / 1000} s`);
      await poll();
    }
  }
}

function rollbackFailed(s: SwarmService, why: string): BerthError {
  return new BerthError('failed', 'swarm_rollback_failed', `rolling ${s.Spec.Name} back: ${why}`, {
    hint: `docker service ps ${s.Spec.Name} on a manager shows its tasks; docker service rollback ${s.Spec.Name} retries it`,
  });
}
