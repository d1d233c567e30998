import type { RestartPolicy } from '../config/manifest-types.js';

/** Restart tuning; defaults from DESIGN.md. */
export interface RestartTuning {
  /** Delay before the second restart; doubles after that. Default 250 ms. */
  readonly baseDelayMs: number;
  /** Longest delay. Default 30 s. */
  readonly maxDelayMs: number;
  /** Up this long and the failure count starts over. Default 60 s. */
  readonly resetAfterMs: number;
  /** This many failures inside `resetAfterMs` and the instance is in crashloop. Default 5. */
  readonly crashloopFailures: number;
}

export const DEFAULT_RESTART: RestartTuning = Object.freeze({
  baseDelayMs: 250,
  maxDelayMs: 30_000,
  resetAfterMs: 60_000,
  crashloopFailures: 5,
});

export interface ExitFacts {
  readonly policy: RestartPolicy;
  /** Exit code, or null when killed by a signal (or unknown for an adopted process). */
  readonly code: number | null;
  readonly signal: string | null;
  /** How long the process ran. */
  readonly uptimeMs: number;
  /** Exits in a row that came within `resetAfterMs` of their start, before this one. */
  readonly recentFailures: number;
}

export type ExitDecision =
  | { readonly restart: false; readonly failures: number }
  | { readonly restart: true; readonly delayMs: number; readonly crashloop: boolean; readonly failures: number };

/** What to do when an instance's process exits. Pure. */
export function decideAfterExit(f: ExitFacts, t: RestartTuning = DEFAULT_RESTART): ExitDecision {
  const clean = f.code === 0 && f.signal === null;
  const failures = f.uptimeMs >= t.resetAfterMs ? 1 : f.recentFailures + 1;
  if (f.policy === 'never' || (f.policy === 'on-failure' && clean)) return { restart: false, failures };
  const delayMs = failures <= 1 ? 0 : Math.min(t.maxDelayMs, t.baseDelayMs * 2 ** (failures - 2));
  return { restart: true, delayMs, crashloop: failures >= t.crashloopFailures, failures };
}
