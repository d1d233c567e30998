import { topRows, type Stats } from '../cli/top-rates.js';
import { HistoryFile, type SampleLine } from './history-file.js';
import { compareText } from '../core/names.js';

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
/** Kept to what a graph can show, so that a point reads back from disk as it was before a restart. */
const round = (v: number, places: number) => Math.round(v * 10 ** places) / 10 ** places;

/**
 * The last hour of each service's requests/s, p95 latency, CPU and memory: every interval, the same cheap sample
 * `berth top` reads (instances' own /proc files, the proxy's counters), turned into rates against the one before,
 * one ring per service (an hour's worth of points). A service gone from a sample loses its ring, so memory is
 * bounded by the services running times the points of an hour. Given a directory (`dir`), every interval's points
 * are also appended there, in one write for all services (history-file.ts), and read back by `start()`: a restart
 * of berthd, even a kill -9, keeps the hour but for the sample being written.
 */
export class MetricsHistory {
  readonly #rings = new Map<string, Ring<ServicePoint>>();
  readonly capacity: number;
  readonly #file: HistoryFile | undefined;
  #last: Stats | undefined;
  /** The newest sample's time: points older than the window before it are not shown. */
  #newest = 0;
  #restored: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #busy = false;
  #stopped = false;

  constructor(
    private readonly sample: () => Promise<Stats>,
    readonly intervalMs: number,
    private readonly onError: (err: unknown) => void = () => {},
    dir?: string,
  ) {
    this.capacity = Math.max(2, Math.ceil(HISTORY_WINDOW_MS / intervalMs));
    this.#file = dir === undefined ? undefined : new HistoryFile(dir, HISTORY_WINDOW_MS);
  }

  /** Reads back what the directory holds of the last hour, then samples every interval. */
  start(): void {
    this.#restored = this.restore(Date.now()).catch(this.onError);
    void this.tick();
    this.#timer = setInterval(() => void this.tick(), this.intervalMs);
    this.#timer.unref();
  }

  /** Settles once `start()` has read back what the directory holds: the API answers after it, never half-read. */
  get restored(): Promise<void> {
    return this.#restored;
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    void this.#file?.close().catch(this.onError);
  }

  /**
   * The points the directory holds of the hour before `now`, into the rings. Only the services of the newest
   * line come back: one missing from it was gone at the last sample before the restart.
   */
  async restore(now: number): Promise<void> {
    const lines = (await this.#file?.load(now)) ?? [];
    for (const line of lines) this.#push(line);
    const last = lines.at(-1);
    if (last) {
      const kept = new Set(last.points.map((p) => key(p.app, p.env, p.service)));
      for (const k of this.#rings.keys()) if (!kept.has(k)) this.#rings.delete(k);
    }
  }

  /** One sample: each service's rates since the previous sample, pushed into its ring (and appended to disk). */
  async tick(): Promise<void> {
    if (this.#busy || this.#stopped) return; // a slow sample (a loaded host) is not stacked under the next
    this.#busy = true;
    try {
      await this.#restored;
      const now = await this.sample();
      const before = this.#last;
      this.#last = now;
      if (!before) return;
      const seconds = (now.at - before.at) / 1000;
      const points = topRows(before, now).map((r) => ({
        app: r.app,
        env: r.env,
        service: r.service,
        point: {
          at: now.at,
          seconds,
          reqPerSec: round(r.reqPerSec, 3),
          p95Ms: r.p95Ms === null ? null : round(r.p95Ms, 2),
          cpuPercent: round(r.cpuPercent, 2),
          rssBytes: Math.round(r.rssBytes),
        },
      }));
      const line: SampleLine = { at: now.at, seconds, points };
      const seen = this.#push(line);
      for (const k of this.#rings.keys()) if (!seen.has(k)) this.#rings.delete(k);
      await this.#file?.append(line);
    } catch (err) {
      this.onError(err);
    } finally {
      this.#busy = false;
    }
  }

  #push(line: SampleLine): Set<string> {
    const seen = new Set<string>();
    for (const { app, env, service, point } of line.points) {
      const k = key(app, env, service);
      seen.add(k);
      let ring = this.#rings.get(k);
      if (!ring) this.#rings.set(k, (ring = new Ring(this.capacity)));
      ring.push(point);
    }
    this.#newest = Math.max(this.#newest, line.at);
    return seen;
  }

  /** One environment's services and their points of the last hour, oldest first. */
  of(app: string, env: string): Array<{ service: string; points: ServicePoint[] }> {
    const prefix = key(app, env, '');
    const from = this.#newest - HISTORY_WINDOW_MS;
    return [...this.#rings]
      .filter(([k]) => k.startsWith(prefix))
      .map(([k, ring]) => ({ service: k.slice(prefix.length), points: ring.values().filter((p) => p.at > from) }))
      .sort((a, b) => compareText(a.service, b.service));
  }

  /** Points held, all services (for the bound's test). */
  get size(): number {
    let n = 0;
    for (const r of this.#rings.values()) n += r.length;
    return n;
  }
}
