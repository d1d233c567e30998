import type { Stats } from '../../src/cli/top-rates.js';
import { LATENCY_BUCKETS } from '../../src/proxy/builtin/route-stats.js';

/** How the made-up samples of app shop (production) grow each minute. */
export interface SamplerShape {
  /** The first sample's time is a minute after this. */
  readonly start?: number;
  /** Requests per minute each service answers, all in latency bucket `bucket`. */
  readonly perMinute?: number;
  readonly bucket?: number;
  /** The CPU share of each instance, as a fraction of a core (0.25: 25 %). */
  readonly cpuShare?: number;
  readonly rssBytes?: number;
}

/**
 * Samples of `services()` of app shop, a minute apart, as berthd's sampler gives them (a healthy
 * instance each, a route `<service>.test`): for the metrics history's unit tests, which look at
 * its bounds and its file (the real sampler is driven through berthd by test/metrics-restart and
 * the dashboard's tests).
 */
export function shopSampler(services: () => readonly string[], o: SamplerShape = {}) {
  let at = o.start ?? 0;
  let requests = 0;
  const sample = async (): Promise<Stats> => {
    at += 60_000;
    requests += o.perMinute ?? 60;
    const buckets = new Array<number>(LATENCY_BUCKETS.length + 1).fill(0);
    buckets[o.bucket ?? 1] = requests;
    const names = services();
    return {
      at,
      instances: names.map((service) => ({
        app: 'shop',
        env: 'production',
        service,
        idx: 0,
        release: 1,
        state: 'healthy',
        restarts: 0,
        cpuSeconds: (at / 1000) * (o.cpuShare ?? 0.1),
        rssBytes: o.rssBytes ?? 1 << 20,
      })),
      routes: names.map((service) => ({
        app: 'shop',
        env: 'production',
        service,
        host: `${service}.test`,
        path: '/',
        classes: [],
        buckets,
        sum: 0,
      })),
    };
  };
  return { sample, now: () => at };
}
