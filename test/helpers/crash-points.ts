import assert from 'node:assert/strict';
import { procStat } from '../../src/system/proc.js';
import { isAlive } from './http.js';
import { assertOk, waitFor, type TestHome } from './home.js';

/**
 * The crash tests' loop (test/deploy-crash, test/container-crash): berthd armed with BERTH_CRASH_AT
 * kills itself at one side of one step of its next deploy; the next berthd recovers that deploy
 * before it answers, armed for the next point.
 */
/** A side of a step, or a point inside one (StepHandle.crashPoint, e.g. `swarm-requested`). */
export type When = 'before' | 'after' | 'swarm-requested';

export interface CrashPoint {
  readonly i: number;
  readonly when: When;
}

/** Starts berthd armed to kill itself at `point` of its next deploy (none: never). */
export async function startArmed(home: TestHome, point: CrashPoint | undefined, label: string): Promise<void> {
  const env = point ? { ...home.env, BERTH_CRASH_AT: `${point.i}:${point.when}` } : home.env;
  assertOk(await home.run(['daemon', 'start'], { env }), label);
}

/**
 * One deploy of `dir` on the armed berthd: it is cut off, berthd dies, and the next berthd (armed
 * for `next`) recovers it (a recovery is never cut off: src/engine/deploy/journal.ts).
 */
export async function crashingDeploy(
  home: TestHome,
  dir: string,
  next: CrashPoint | undefined,
  label: string,
): Promise<void> {
  const daemon = home.daemonPid() as number;
  const r = await home.cli('deploy', dir, '--json');
  assert.equal(r.code, 1, `${label}: the deploy should have been cut off: ${r.stdout}${r.stderr}`);
  await waitFor(`${label}: berthd to be dead`, () => !isAlive(daemon) || procStat(daemon)?.state === 'Z');
  await startArmed(home, next, label);
}

/**
 * The cut-off deploy as `berth releases` tells it after the recovery: succeeded when berthd died
 * past the switch (finished), interrupted before it (undone), never with a failed undo.
 */
export async function assertRecovered(home: TestHome, app: string, switched: boolean, label: string): Promise<void> {
  const list = await home.json<{ deployments: Array<{ status: string; error: string | null }> }>('releases', app);
  const last = list.deployments[0];
  assert.equal(last?.status, switched ? 'succeeded' : 'interrupted', `${label}: ${JSON.stringify(last)}`);
  assert.match(last.error ?? '', /berthd stopped during/, label);
  assert.doesNotMatch(last.error ?? '', /additionally/, `${label}: an undo failed`);
}
