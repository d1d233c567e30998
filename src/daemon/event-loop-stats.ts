import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/** How often the loop is sampled, in ms: a delay is measured to about this much. */
const RESOLUTION_MS = 1;

/** How long berthd's event loop was held, over one window (ms). */
export interface EventLoopWindow {
  /** The window's length. */
  readonly windowMs: number;
  /** The longest time the loop was held: nothing else (another caller's request, a timer) ran meanwhile. */
  readonly maxMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/**
 * Measures how long berthd's event loop is held, for benchmarks (bench/manifest): on only
 * with BERTH_EVENT_LOOP_STATS=1, since it wakes the loop every millisecond. Each `take()`
 * answers for the time since the previous one (or since berthd started) and starts a new window.
 */
export class EventLoopStats {
  readonly #histogram: IntervalHistogram;
  #since = performance.now();

  private constructor() {
    this.#histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    this.#histogram.enable();
  }

  /** On when `BERTH_EVENT_LOOP_STATS=1`; otherwise nothing to measure with. */
  static fromEnv(env: NodeJS.ProcessEnv): EventLoopStats | undefined {
    return env.BERTH_EVENT_LOOP_STATS === '1' ? new EventLoopStats() : undefined;
  }

  take(): EventLoopWindow {
    const h = this.#histogram;
    // The histogram holds the time between two ticks of a 1 ms timer: what is past that, the loop was held.
    const held = (ns: number) => Math.max(0, Math.round((ns / 1e6 - RESOLUTION_MS) * 10) / 10);
    const now = performance.now();
    const window = {
      windowMs: Math.round(now - this.#since),
      maxMs: h.count > 0 ? held(h.max) : 0,
      p50Ms: h.count > 0 ? held(h.percentile(50)) : 0,
      p99Ms: h.count > 0 ? held(h.percentile(99)) : 0,
    };
    h.reset();
    this.#since = now;
    return window;
  }
}
