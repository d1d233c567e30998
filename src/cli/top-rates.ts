import type { InstanceSample } from '../metrics/collector.js';
import { LATENCY_BUCKETS, type RouteCounters } from '../proxy/builtin/route-stats.js';
import { compareText } from '../core/names.js';

/** GET /v1/stats: instances and route counters at one moment. */
export interface Stats {
  readonly at: number;
  readonly instances: readonly InstanceSample[];
  readonly routes: readonly RouteCounters[];
}

/** One service's line in `berth top`, over the time between two samples. */
export interface TopRow {
  readonly app: string;
  readonly env: string;
  readonly service: string;
  /** Instances running (healthy or starting) of all it has. */
  readonly running: number;
  readonly instances: number;
  /** CPU used, in % of one core (200 = two cores busy). */
  readonly cpuPercent: number;
  readonly rssBytes: number;
  readonly restarts: number;
  /** Requests answered per second through the builtin proxy (all the service's routes). */
  readonly reqPerSec: number;
  /** 95th percentile of their latency, in ms, estimated from the histogram; null without requests. */
  readonly p95Ms: number | null;
}

const RUNNING = new Set(['healthy', 'starting', 'unhealthy', 'draining']);
const svcKey = (x: { app: string; env: string; service: string }) => `${x.app}\0${x.env}\0${x.service}`;
const instKey = (i: InstanceSample) => `${svcKey(i)}\0${i.release}\0${i.idx}`;

/** The q-quantile of a histogram (per-bucket counts, +Inf last), interpolated in its bucket as Prometheus does. */
export function quantile(q: number, buckets: readonly number[]): number | null {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    const n = buckets[i]!;
    if (seen + n >= rank && n > 0) {
      if (i === LATENCY_BUCKETS.length) return LATENCY_BUCKETS[i - 1]!; // +Inf: the highest finite bound
      const lower = i === 0 ? 0 : LATENCY_BUCKETS[i - 1]!;
      return lower + (LATENCY_BUCKETS[i]! - lower) * ((rank - seen) / n);
    }
    seen += n;
  }
  return LATENCY_BUCKETS[LATENCY_BUCKETS.length - 1]!;
}

/** Rates per service between two samples of the same berthd (`before` older). */
export function topRows(before: Stats, after: Stats): TopRow[] {
  const seconds = Math.max((after.at - before.at) / 1000, 0.001);
  const cpuBefore = new Map(before.instances.map((i) => [instKey(i), i.cpuSeconds]));
  const routesBefore = new Map(before.routes.map((r) => [`${svcKey(r)}\0${r.host}\0${r.path}`, r]));
  const rows = new Map<string, { row: Omit<TopRow, 'p95Ms' | 'reqPerSec'>; answered: number; hist: number[] }>();
  const entry = (x: { app: string; env: string; service: string }) => {
    let e = rows.get(svcKey(x));
    if (!e) {
      const row = {
        app: x.app,
        env: x.env,
        service: x.service,
        running: 0,
        instances: 0,
        cpuPercent: 0,
        rssBytes: 0,
        restarts: 0,
      };
      e = { row, answered: 0, hist: new Array<number>(LATENCY_BUCKETS.length + 1).fill(0) };
      rows.set(svcKey(x), e);
    }
    return e;
  };
  for (const i of after.instances) {
    const r = entry(i).row as { -readonly [K in keyof TopRow]: TopRow[K] };
    r.instances++;
    if (RUNNING.has(i.state)) r.running++;
    r.restarts += i.restarts;
    r.rssBytes += i.rssBytes ?? 0;
    const was = cpuBefore.get(instKey(i));
    if (i.cpuSeconds !== undefined && was !== undefined)
      r.cpuPercent += (Math.max(0, i.cpuSeconds - was) / seconds) * 100;
  }
  for (const r of after.routes) {
    const was = routesBefore.get(`${svcKey(r)}\0${r.host}\0${r.path}`);
    const e = entry(r);
    r.buckets.forEach((n, b) => {
      const d = Math.max(0, n - (was?.buckets[b] ?? 0));
      e.hist[b]! += d;
      e.answered += d;
    });
  }
  return [...rows.values()]
    .map(({ row, answered, hist }) => {
      const p95 = quantile(0.95, hist);
      return { ...row, reqPerSec: answered / seconds, p95Ms: p95 === null ? null : p95 * 1000 };
    })
    .sort((a, b) => compareText(svcKey(a), svcKey(b)));
}
