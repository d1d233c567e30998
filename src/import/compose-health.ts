import { HEALTH_PATH_PATTERN } from '../config/manifest-schema.js';
import { berthDuration, composeDurationMs } from './compose-duration.js';
import type { ServiceContext, ServiceOut } from './import-context.js';
import { at, isMapping } from './import-warnings.js';
import { shellWords } from './shell-words.js';

const HEALTH_KEYS = new Set(['test', 'interval', 'timeout', 'retries', 'start_period', 'disable']);
const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '0.0.0.0', '[::1]', '[::]']);

/**
 * `healthcheck:` to `health:`. A test that fetches an http URL of the container itself with curl
 * or wget becomes `http: <path>`; any other test cannot run from Berth's prober (it probes from
 * outside, over HTTP or TCP), so it is reported, and a service with a port is then checked by TCP
 * connect. interval -> interval, retries -> unhealthy_threshold, start_period -> start_timeout.
 */
export function mapHealthcheck(svc: Record<string, unknown>, ctx: ServiceContext, out: ServiceOut): void {
  const hc = svc.healthcheck;
  if (hc === undefined) return;
  const p = at(ctx.path, 'healthcheck');
  if (!isMapping(hc)) return ctx.warn.notMapped(p, 'expected a mapping');
  const port = typeof out.container_port === 'number' ? out.container_port : undefined;
  const argv = testArgv(hc.test);
  if (hc.disable === true || argv?.[0] === 'NONE')
    return ctx.warn.add(p, 'disabled: Berth checks readiness its default way (the container listens on its port)');
  const health: Record<string, unknown> = {};
  const probe = argv === undefined ? undefined : httpPath(argv, port, ctx.compose);
  if (probe?.path !== undefined) health.http = probe.path;
  else {
    const what = probe?.why ?? (argv?.[0] ? `a command check (${programName(argv[0])})` : 'no test');
    ctx.warn.notMapped(
      at(p, 'test'),
      `${what}: Berth probes from outside the container, over HTTP or TCP${port === undefined ? '' : `; checked by a TCP connect to container_port ${port} instead`}`,
    );
    if (port === undefined) return;
    health.tcp = true;
  }
  timing(hc, health, ctx, p);
  for (const key of Object.keys(hc))
    if (!HEALTH_KEYS.has(key))
      ctx.warn.notMapped(
        at(p, key),
        key === 'start_interval'
          ? 'Berth probes every 100 ms while an instance starts'
          : 'not a healthcheck key Berth knows',
      );
  out.health = health;
}

/** For a `condition: service_healthy` dependency: a service without a health check gets a TCP one, if it has a port. */
export function ensureHealthGate(out: ServiceOut, ctx: ServiceContext): void {
  if (out.health !== undefined) return;
  if (typeof out.container_port === 'number') out.health = { tcp: true };
  else
    ctx.warn.add(
      ctx.path,
      'a service_healthy dependency without a port: Berth counts it ready once it runs; set container_port to gate on it',
    );
}

function testArgv(test: unknown): string[] | undefined {
  if (typeof test === 'string') return shellWords(test);
  if (!Array.isArray(test) || !test.every((t) => typeof t === 'string')) return undefined;
  const [kind, ...rest] = test;
  if (kind === 'NONE') return ['NONE'];
  if (kind === 'CMD') return rest;
  if (kind === 'CMD-SHELL' && rest.length === 1) return shellWords(rest[0] as string);
  return undefined;
}

/**
 * The path a curl/wget of the container's own http URL fetches, or why there is none (also read by
 * `berth init` from a Dockerfile's HEALTHCHECK).
 */
export function httpPath(
  argv: readonly string[],
  port: number | undefined,
  self: string,
): { path?: string; why?: string } {
  const end = argv.findIndex((w) => ['||', '&&', ';', '|'].includes(w));
  const words = end < 0 ? argv : argv.slice(0, end);
  const program = programName(words[0] ?? '');
  if (program !== 'curl' && program !== 'wget') return { why: `a command check (${program || 'empty'})` };
  const url = words.find((w) => /^https?:\/\//.test(w));
  if (url === undefined) return { why: `${program} without an http URL` };
  const m = /^(https?):\/\/(\[[^\]]+\]|[^/:?#]+)(?::(\d+))?([^#]*)/.exec(url);
  if (!m || m[1] !== 'http') return { why: `${program} of ${m?.[1] ?? 'an'} URL that is not plain http` };
  if (!LOCAL_HOSTS.has(m[2] as string) && m[2] !== self) return { why: `${program} of another host (${m[2]})` };
  if (m[3] !== undefined && port !== undefined && Number(m[3]) !== port)
    return { why: `${program} of port ${m[3]}, not container_port ${port}` };
  const path = m[4] === '' ? '/' : (m[4] as string);
  if (!HEALTH_PATH_PATTERN.test(path)) return { why: `${program} of a path Berth does not probe (${path})` };
  return { path };
}

function timing(hc: Record<string, unknown>, health: Record<string, unknown>, ctx: ServiceContext, p: string): void {
  const duration = (key: string, to: string) => {
    if (hc[key] === undefined) return;
    const ms = composeDurationMs(hc[key]);
    const text = ms === undefined ? undefined : berthDuration(ms);
    if (text === undefined) ctx.warn.notMapped(at(p, key), 'not a duration Berth can keep (at most 24.8 days)');
    else health[to] = text;
  };
  duration('interval', 'interval');
  duration('start_period', 'start_timeout');
  if (hc.retries !== undefined) {
    const n = hc.retries;
    if (typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 100) health.unhealthy_threshold = n;
    else ctx.warn.notMapped(at(p, 'retries'), 'expected a whole number from 1 to 100');
  }
  if (hc.timeout !== undefined)
    ctx.warn.notMapped(at(p, 'timeout'), "Berth's probes time out after 2 s, a fixed bound");
}

function programName(word: string): string {
  return word.slice(word.lastIndexOf('/') + 1);
}
