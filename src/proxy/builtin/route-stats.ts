import type { RouteEntry } from '../route-table.js';

/** Upper bounds (seconds) of the latency histogram's buckets; +Inf is implied. */
export const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** One route's counters since the proxy started, as its control socket reports them. */
export interface RouteCounters {
  readonly app: string;
  readonly env: string;
  readonly service: string;
  readonly host: string;
  readonly path: string;
  /** Answers by status class: [1xx, 2xx, 3xx, 4xx, 5xx, none] ("none": the client left before an answer). */
  readonly classes: number[];
  /** Answers per latency bucket (not cumulative), one more than LATENCY_BUCKETS for +Inf. */
  readonly buckets: number[];
  /** Seconds, all answers together. */
  sum: number;
}

/**
 * Requests and latency per route, counted in the data plane: one map lookup by the route object
 * (the table's own, so no key is built per request), then a few array increments when the
 * exchange closes. Counters of a route survive table swaps by its identity (app, env, service, host, path).
 */
export class RouteStats {
  #byEntry = new WeakMap<RouteEntry, RouteCounters>();
  readonly #byKey = new Map<string, RouteCounters>();

  #counters(route: RouteEntry): RouteCounters {
    let c = this.#byEntry.get(route);
    if (c) return c;
    const key = `${route.app}\0${route.env}\0${route.service}\0${route.host}\0${route.path}`;
    c = this.#byKey.get(key);
    if (!c) {
      c = {
        app: route.app,
        env: route.env,
        service: route.service,
        host: route.host,
        path: route.path,
        classes: [0, 0, 0, 0, 0, 0],
        buckets: new Array<number>(LATENCY_BUCKETS.length + 1).fill(0),
        sum: 0,
      };
      this.#byKey.set(key, c);
    }
    this.#byEntry.set(route, c);
    return c;
  }

  /** One exchange over: its status (0 when none was sent) and how long it took since the request was read. */
  record(route: RouteEntry, status: number, seconds: number): void {
    const c = this.#counters(route);
    const cls = status >= 100 && status < 600 ? Math.floor(status / 100) - 1 : 5;
    c.classes[cls]!++;
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]!) i++;
    c.buckets[i]!++;
    c.sum += seconds;
  }

  /** Routes gone from the table keep their counters until the proxy restarts (counters never go back). */
  snapshot(): RouteCounters[] {
    return [...this.#byKey.values()];
  }
}
