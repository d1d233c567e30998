import { topRows, type Stats } from '../cli/top-rates.js';

/** A fixed number of the newest items: pushing past capacity overwrites the oldest, so memory never grows. */
export class Ring<T> {
  readonly #items: T[] = [];
  #next = 0;
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new Error(`a ring needs a capacity of 1 or more, not ${capacity}`);
  }
  push(item: T): void {
    if (this.#items.length < this.capacity) this.#items.push(item);
    else this.#items[this.#next] = item;
    this.#next = (this.#next + 1) % this.capacity;
  }
  get length(): number {
    return this.#items.length;
  }
  /** Oldest first. */
  values(): T[] {
    return this.#items.length < this.capacity
      ? [...this.#items]
      : [...this.#items.slice(this.#next), ...this.#items.slice(0, this.#next)];
  }
}

/** One service over one sample interval, as the dashboard's graphs draw it. */
export interface ServicePoint {
  /** End of the interval (ms since the epoch). */
  readonly at: number;
  /** The interval's length: reqPerSec × seconds is the number of requests answered in it. */
  readonly seconds: number;
  readonly reqPerSec: number;
  /** null: no request in the interval. */
  readonly p95Ms: number | null;
  /** % of one core, all its instances. */
  readonly cpuPercent: number;
  readonly rssBytes: number;
}

export const HISTORY_WINDOW_MS = 3_600_000;
const DEFAULT_INTERVAL_MS = 15_000;

/** The sample interval: BERTH_METRICS_SAMPLE_MS (tests sample fast), or 15 s. */
export function sampleInterval(env: NodeJS.ProcessEnv): number {
  const ms = Number(env.BERTH_METRICS_SAMPLE_MS);
  return Number.isFinite(ms) && ms >= 100 ? ms : DEFAULT_INTERVAL_MS;
}

const key = (app: string, env: string, service: string) => `${app}\0${env}\0${service}`;

/**
 * The last hour of each service's requests/s, p95 latency, CPU and memory, in memory: every interval,
 * the same cheap sample `berth top` reads (instances' own /proc files, the proxy's counters), turned into
 * rates against the one before, one ring per service (an hour's worth of points). A service gone from
 * a sample loses its ring, so memory is bounded by the services running times the points of an hour.
 */
export class MetricsHistory {
  readonly #rings = new Map<string, Ring<ServicePoint>>();
  readonly capacity: number;
  #last: Stats | undefined;
  #timer: NodeJS.Timeout | undefined;
  #busy = false;

  constructor(
    private readonly sample: () => Promise<Stats>,
    readonly intervalMs: number,
    private readonly onError: (err: unknown) => void = () => {},
  ) {
    this.capacity = Math.max(2, Math.ceil(HISTORY_WINDOW_MS / intervalMs));
  }

  start(): void {
    void this.tick();
    this.#timer = setInterval(() => void this.tick(), this.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** One sample: each service's rates since the previous sample, pushed into its ring. */
  async tick(): Promise<void> {
    if (this.#busy) return; // a slow sample (a loaded host) is not stacked under the next
    this.#busy = true;
    try {
      const now = await this.sample();
      const before = this.#last;
      this.#last = now;
      if (!before) return;
      const seen = new Set<string>();
      const seconds = (now.at - before.at) / 1000;
      for (const r of topRows(before, now)) {
        const k = key(r.app, r.env, r.service);
        seen.add(k);
        let ring = this.#rings.get(k);
        if (!ring) this.#rings.set(k, (ring = new Ring(this.capacity)));
        ring.push({
          at: now.at,
          seconds,
          reqPerSec: r.reqPerSec,
          p95Ms: r.p95Ms,
          cpuPercent: r.cpuPercent,
          rssBytes: r.rssBytes,
        });
      }
      for (const k of this.#rings.keys()) if (!seen.has(k)) this.#rings.delete(k);
    } catch (err) {
      this.onError(err);
    } finally {
      this.#busy = false;
    }
  }

  /** One environment's services and their points, oldest first. */
  of(app: string, env: string): Array<{ service: string; points: ServicePoint[] }> {
    const prefix = key(app, env, '');
    return [...this.#rings]
      .filter(([k]) => k.startsWith(prefix))
      .map(([k, ring]) => ({ service: k.slice(prefix.length), points: ring.values() }))
      .sort((a, b) => a.service.localeCompare(b.service));
  }

  /** Points held, all services (for the bound's test). */
  get size(): number {
    let n = 0;
    for (const r of this.#rings.values()) n += r.length;
    return n;
  }
}
