import { z } from 'zod';
import { NAME_MAX, NAME_PATTERN } from '../core/names.js';
import { DURATION_PATTERN, MAX_TIMER_MS, parseDuration } from './duration.js';
import { parseSize, SIZE_PATTERN } from './size.js';

/**
 * The pieces of berth.yaml's schema a service is made of (manifest-schema.ts puts them together): names,
 * durations, routes, health checks, resource limits and container builds. Input validation only; every
 * description is user documentation and states its default.
 */

export const name = z.string().max(NAME_MAX).regex(NAME_PATTERN);

/** Every duration ends up in a timer, so none may be longer than a timer keeps. */
export const duration = z
  .union([z.number().nonnegative(), z.string().regex(DURATION_PATTERN)])
  .refine((v) => (parseDuration(v) ?? 0) <= MAX_TIMER_MS, {
    message: 'expected a duration of at most 24.8 days (2147483647 ms, the longest timer Node.js keeps)',
  });

export const HOST_PATTERN =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
export const ROUTE_PATH_PATTERN = /^\/(?:[A-Za-z0-9._~!$&'()*+,;=:@%-]+\/?)*$/;
export const ROUTE_SHORTHAND_PATTERN = /^[a-z0-9.-]+(?:\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$/;
/** A health check's path: absolute, with an optional query; no spaces, control characters or fragments. */
export const HEALTH_PATH_PATTERN = /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*(?:\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$/;

export const route = z.union([
  z.string().regex(ROUTE_SHORTHAND_PATTERN).describe('Shorthand: "host" or "host/path/".'),
  z.strictObject({
    host: z.string().regex(HOST_PATTERN).describe('Hostname this route answers, lowercase, e.g. "api.example.com".'),
    path: z
      .string()
      .regex(ROUTE_PATH_PATTERN)
      .optional()
      .describe('Path prefix, starting with "/". Default "/". The longest matching prefix wins.'),
    strip: z
      .boolean()
      .optional()
      .describe('Remove the path prefix before proxying (nginx `proxy_pass http://backend/;`). Default false.'),
    tls: z
      .enum(['auto', 'internal', 'off'])
      .optional()
      .describe(
        'HTTPS for this host at an edge proxy: "auto" (ACME with Caddy, certbot\'s files with nginx; default), "internal" (Caddy\'s own CA, for private names), "off".',
      ),
  }),
]);

export const health = z.strictObject({
  http: z
    .union([
      z.string().max(2048).regex(HEALTH_PATH_PATTERN),
      z.strictObject({
        path: z
          .string()
          .max(2048)
          .regex(HEALTH_PATH_PATTERN)
          .describe('Path to GET, e.g. "/healthz" or "/health?full=1" (no spaces or control characters).'),
        status: z.number().int().min(100).max(599).optional().describe('Expected status. Default: any 2xx.'),
      }),
    ])
    .optional()
    .describe('HTTP probe: a path, or { path, status }. Mutually exclusive with tcp.'),
  tcp: z.boolean().optional().describe('TCP probe: ready when a connection to the port succeeds.'),
  start_timeout: duration.optional().describe('How long a new instance may take to become ready. Default 60s.'),
  interval: duration.optional().describe('Probe interval once ready. Default 10s (100 ms while starting).'),
  unhealthy_threshold: z
    .number()
    .int()
    .min(1)
    .max(100)
    .optional()
    .describe('Failed probes in a row before an instance is unhealthy. Default 3.'),
});

/** The bounds of `resources`: below 4M nothing starts; cpu quotas go down to 1% of a CPU (the kernel's 1 ms per 100 ms). */
export const RESOURCE_BOUNDS = Object.freeze({
  memoryMin: 4 * 2 ** 20,
  memoryMax: 2 ** 44,
  cpuMin: 0.01,
  cpuMax: 1024,
  pidsMax: 4_194_304,
});

export const resources = z.strictObject({
  memory: z
    .union([z.number().int(), z.string().regex(SIZE_PATTERN)])
    .refine((v) => {
      const bytes = parseSize(v) ?? 0;
      return bytes >= RESOURCE_BOUNDS.memoryMin && bytes <= RESOURCE_BOUNDS.memoryMax;
    }, 'expected a size from 4M to 16T, like "512M" or "2G" (K, M, G, T: binary multiples; a number is bytes)')
    .optional()
    .describe(
      'Most memory (RAM) all processes of one instance may use together, e.g. "512M" or "2G" (K, M, G, T are binary multiples; a number is bytes); from 4M to 16T. Swap is not allowed on top. Over it, the kernel kills a process of the instance, and Berth records the instance as `oom` with the limit. Default: no limit.',
    ),
  cpu: z
    .number()
    .min(RESOURCE_BOUNDS.cpuMin)
    .max(RESOURCE_BOUNDS.cpuMax)
    .optional()
    .describe(
      "CPU time of one instance, in CPUs: 1.5 is one and a half CPUs' worth in every 100 ms period, all its processes together; from 0.01 to 1024. Default: no limit.",
    ),
  pids: z
    .number()
    .int()
    .min(1)
    .max(RESOURCE_BOUNDS.pidsMax)
    .optional()
    .describe(
      'Most processes and threads one instance may have at once (a fork bomb stops there); from 1 to 4194304. Default: no limit.',
    ),
});

/**
 * An image reference: [registry[:port]/]path[:tag][@digest]; no spaces, no leading "-" (so it is
 * never read as an option), at most 512 characters.
 */
export const IMAGE_PATTERN = /^[a-z0-9][a-z0-9._/:@-]*$/i;

export const containerBuild = z.strictObject({
  dockerfile: z.string().min(1).optional().describe('The Dockerfile, relative to the context. Default "Dockerfile".'),
  context: z
    .string()
    .min(1)
    .optional()
    .describe('The build context, a directory relative to berth.yaml inside the release snapshot. Default ".".'),
  args: z
    .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.union([z.string(), z.number(), z.boolean()]))
    .optional()
    .describe('Build arguments (ARG). Default none.'),
  target: z.string().min(1).max(128).optional().describe('The stage to build. Default the last.'),
});
