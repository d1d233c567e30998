import type { HealthSpec } from '../config/manifest-types.js';
import type { ProbeResult } from '../health/probes.js';

/** How often a starting instance is probed: every 10 ms in its first second (most apps are up by then), then every 100 ms. */
export const STARTING_PROBE_MS = 100;
const EAGER_PROBE_MS = 10;
const EAGER_FOR_MS = 1000;

interface Options {
  readonly health: HealthSpec;
  readonly phase: 'starting' | 'healthy';
  /** `starting`: no probe has passed yet (the probe may then check more than once healthy). */
  readonly check: (starting: boolean) => Promise<ProbeResult>;
  /** Called on each change of verdict; the caller decides what it means for the instance. */
  readonly onChange: (to: 'healthy' | 'unhealthy', reason: string) => Promise<unknown>;
}

/**
 * `ms` give or take `spread` of it, at random: instances started together (a deploy, a berthd
 * restart adopting them all) do not all probe in the same instant, every interval after.
 */
function jittered(ms: number, spread: number): number {
  return Math.round(ms * (1 - spread + 2 * spread * Math.random()));
}

/**
 * Probes one instance. While starting: every 100 ms until the first success (healthy) or
 * until start_timeout (unhealthy). Then every `interval` (jittered, see jittered()); `unhealthy_threshold` failures
 * in a row make it unhealthy, one success makes it healthy again.
 */
export class HealthWatch {
  readonly #o: Options;
  readonly #since = Date.now();
  #starting: boolean;
  #failures = 0;
  #verdict: 'healthy' | 'unhealthy' | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: Options) {
    this.#o = options;
    this.#starting = options.phase === 'starting';
    this.#verdict = options.phase === 'healthy' ? 'healthy' : undefined;
    if (options.phase === 'healthy' && options.health.probe.kind === 'process') return; // see #tick
    this.#schedule(this.#starting ? 0 : jittered(options.health.intervalMs, 0.5));
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#tick(), ms);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    try {
      await this.#probeOnce();
    } catch {
      // a probe or a store read failed: treat like a failed probe next time round
    }
    // `process` asks only "is it alive?": once it is, its exit answers that (the exit event of a
    // child, berthd's poll of adopted processes), so a healthy instance costs no timer at all.
    if (this.#verdict === 'healthy' && this.#o.health.probe.kind === 'process') return;
    this.#schedule(
      this.#starting
        ? Date.now() - this.#since < EAGER_FOR_MS
          ? EAGER_PROBE_MS
          : STARTING_PROBE_MS
        : jittered(this.#o.health.intervalMs, 0.1),
    );
  }

  async #probeOnce(): Promise<void> {
    const r = await this.#o.check(this.#starting); // only a timer starts a probe, and stop() clears it
    if (this.#stopped) return;
    if (r.ok) {
      this.#failures = 0;
      this.#starting = false;
      await this.#set('healthy', 'ok');
    } else if (this.#starting) {
      const waited = Date.now() - this.#since;
      if (waited >= this.#o.health.startTimeoutMs) {
        this.#starting = false;
        this.#failures = this.#o.health.unhealthyThreshold;
        await this.#set('unhealthy', `not ready after ${Math.round(waited / 100) / 10} s: ${r.reason}`);
      }
    } else if (++this.#failures >= this.#o.health.unhealthyThreshold) {
      await this.#set('unhealthy', `${this.#failures} failed probes in a row: ${r.reason}`);
    }
  }

  async #set(verdict: 'healthy' | 'unhealthy', reason: string): Promise<void> {
    if (this.#verdict === verdict) return;
    this.#verdict = verdict;
    await this.#o.onChange(verdict, reason);
  }
}
