import { BerthError } from './errors.js';

/**
 * The life of an instance. Changes happen in one place (engine/instance-manager.ts) and
 * only along this table; every change is recorded with the state it left.
 */
export type InstanceState =
  | 'pending' // recorded, not started yet
  | 'starting' // spawned; probed every 100 ms until ready or start_timeout
  | 'healthy' // ready: receives traffic
  | 'unhealthy' // never became ready, or failed unhealthy_threshold probes in a row
  | 'backoff' // exited, restart scheduled
  | 'crashloop' // exited again and again: restart scheduled with growing delay
  | 'exited' // exited and the restart policy says stay down
  | 'failed' // could not be spawned at all
  | 'stopping' // SIGTERM sent to its processes
  | 'stopped'; // stopped on request

const DOWN_AFTER_EXIT: readonly InstanceState[] = ['backoff', 'crashloop', 'exited'];

const TRANSITIONS: Readonly<Record<InstanceState, readonly InstanceState[]>> = {
  pending: ['starting', 'stopped', 'failed'],
  starting: ['healthy', 'unhealthy', 'failed', 'stopping', ...DOWN_AFTER_EXIT],
  healthy: ['unhealthy', 'stopping', ...DOWN_AFTER_EXIT],
  unhealthy: ['healthy', 'stopping', ...DOWN_AFTER_EXIT],
  backoff: ['starting', 'stopping', 'stopped', 'failed'],
  crashloop: ['starting', 'stopping', 'stopped', 'failed'],
  exited: ['starting', 'stopped'],
  failed: ['starting', 'stopped'],
  stopping: ['stopped'],
  stopped: ['starting'],
};

export function canTransition(from: InstanceState, to: InstanceState): boolean {
  return from === to || TRANSITIONS[from].includes(to);
}

export function assertTransition(from: InstanceState, to: InstanceState): void {
  if (!canTransition(from, to))
    throw new BerthError('failed', 'bad_transition', `instance cannot go from ${from} to ${to}`);
}

/** States in which a process of the instance may be alive. */
export function holdsProcess(state: string): boolean {
  return state === 'starting' || state === 'healthy' || state === 'unhealthy' || state === 'stopping';
}

/** States that end a wait for readiness without success. */
export function isDown(state: string): boolean {
  return (
    state === 'unhealthy' ||
    state === 'failed' ||
    state === 'stopped' ||
    (DOWN_AFTER_EXIT as readonly string[]).includes(state)
  );
}
