import type { KeyPath } from './manifest-errors.js';

/**
 * What each field of berth.yaml expects and how to fix it, by key path: the words of the errors
 * a manifest gets ("expected ..., got ..." and the hint under it).
 */
export type Rule = { pattern: string; expected: string; hint?: string };

/** What each field expects and how to fix it, by key path ('*' matches one segment). */
const RULES: readonly Rule[] = [
  {
    pattern: 'app',
    expected: 'an app name',
    hint: 'names are DNS labels: 1-63 characters of a-z, 0-9 and "-", starting and ending with a letter or digit',
  },
  {
    pattern: 'services',
    expected: 'a mapping of service names to services',
    hint: 'e.g. services: { web: { run: "node server.js" } }',
  },
  {
    pattern: 'services.*',
    expected: 'a service (a mapping with at least `run`)',
    hint: 'e.g. web: { run: "node server.js" }',
  },
  {
    pattern: 'services.*.run',
    expected: 'a command string or a non-empty list of strings',
    hint: 'e.g. run: "node server.js" (through sh -c) or run: ["node", "server.js"] (no shell)',
  },
  {
    pattern: 'services.*.run.*',
    expected: 'a string',
    hint: 'every argv element is a string; quote numbers: ["sleep", "5"]',
  },
  {
    pattern: 'services.*.build',
    expected: 'a command string or a non-empty list of command strings',
    hint: 'e.g. build: ["npm ci", "npm run build"]',
  },
  { pattern: 'services.*.build.*', expected: 'a command string', hint: 'quote it: build: ["npm ci", "npm run build"]' },
  {
    pattern: 'services.*.release',
    expected: 'a command string or a non-empty list of strings',
    hint: 'e.g. release: "python manage.py migrate --noinput" (through sh -c) or a list (no shell)',
  },
  { pattern: 'services.*.release.*', expected: 'a string', hint: 'every argv element is a string; quote numbers' },
  {
    pattern: 'services.*.strategy',
    expected: 'one of "blue-green", "recreate"',
    hint: 'blue-green: start the new release, switch, then stop the old; recreate: stop the old first',
  },
  {
    pattern: 'services.*.drain',
    expected: 'a duration like "500ms", "10s", "2m" or a number of seconds',
    hint: 'e.g. 500ms, 10s, 2m, 1h',
  },
  { pattern: 'services.*.static', expected: 'a relative directory inside the app', hint: 'e.g. static: dist' },
  { pattern: 'services.*.spa', expected: 'true or false', hint: 'spa: true answers unknown paths with index.html' },
  { pattern: 'services.*.cwd', expected: 'a relative directory inside the app', hint: 'e.g. cwd: backend' },
  {
    pattern: 'services.*.env',
    expected: 'a mapping of variable names to values',
    hint: 'e.g. env: { NODE_ENV: production }',
  },
  {
    pattern: 'services.*.env.*',
    expected: 'a string, number or boolean',
    hint: 'quote structured values: KEY: \'{"a": 1}\'',
  },
  {
    pattern: 'services.*.port',
    expected: '"auto", "none" or a whole number from 1 to 65535',
    hint: 'use `port: auto` to lease a free port, pin one like `port: 8000`, or `port: none` for a worker',
  },
  {
    pattern: 'services.*.restart',
    expected: 'one of "always", "on-failure", "never"',
    hint: 'always: restart whenever it exits; on-failure: only after a non-zero exit or a signal; never: leave it down',
  },
  { pattern: 'services.*.depends_on', expected: 'a list of service names', hint: 'e.g. depends_on: [db, auth]' },
  { pattern: 'services.*.depends_on.*', expected: 'a service name', hint: 'names are DNS labels: a-z, 0-9 and "-"' },
  {
    pattern: 'services.*.instances',
    expected: 'a whole number from 1 to 64',
    hint: 'each instance gets its own port; e.g. instances: 2',
  },
  {
    pattern: 'services.*.stop_timeout',
    expected: 'a duration like "500ms", "10s", "2m" or a number of seconds',
    hint: 'e.g. 500ms, 10s, 2m, 1h',
  },
  {
    pattern: 'services.*.routes',
    expected: 'a list of routes',
    hint: 'e.g. routes: ["example.com", { host: example.com, path: /api/, strip: true }]',
  },
  {
    pattern: 'services.*.routes.*',
    expected: 'a route: "host", "host/path/" or { host, path?, strip? }',
    hint: 'hostnames are lowercase, e.g. "api.example.com" or "example.com/api/"',
  },
  {
    pattern: 'services.*.routes.*.host',
    expected: 'a lowercase hostname like "api.example.com"',
    hint: 'labels of a-z, 0-9 and "-", separated by dots',
  },
  { pattern: 'services.*.routes.*.path', expected: 'a path prefix starting with "/"', hint: 'e.g. path: /api/' },
  {
    pattern: 'services.*.routes.*.tls',
    expected: 'one of "auto", "internal", "off"',
    hint: "internal: certificates from the edge's own CA, for names the internet cannot reach",
  },
  {
    pattern: 'services.*.routes.*.strip',
    expected: 'true or false',
    hint: 'strip: true removes the path prefix before proxying',
  },
  {
    pattern: 'services.*.health',
    expected: 'a mapping with http or tcp and timings',
    hint: 'e.g. health: { http: /healthz }',
  },
  {
    pattern: 'services.*.health.http',
    expected: 'a path like "/healthz" (no spaces or control characters) or { path, status? }',
    hint: 'e.g. http: /healthz',
  },
  {
    pattern: 'services.*.health.http.path',
    expected: 'a path like "/healthz" (no spaces or control characters)',
    hint: 'e.g. path: /healthz',
  },
  {
    pattern: 'services.*.health.http.status',
    expected: 'an HTTP status from 100 to 599',
    hint: 'e.g. status: 204; without it any 2xx is healthy',
  },
  {
    pattern: 'services.*.health.tcp',
    expected: 'true or false',
    hint: 'tcp: true is ready when a connection to $PORT succeeds',
  },
  {
    pattern: 'services.*.health.start_timeout',
    expected: 'a duration like "500ms", "10s", "2m" or a number of seconds',
    hint: 'e.g. 500ms, 10s, 2m, 1h',
  },
  {
    pattern: 'services.*.health.interval',
    expected: 'a duration like "500ms", "10s", "2m" or a number of seconds',
    hint: 'e.g. 500ms, 10s, 2m, 1h',
  },
  {
    pattern: 'services.*.resources',
    expected: 'a mapping with memory, cpu and/or pids',
    hint: 'e.g. resources: { memory: 512M, cpu: 1.5, pids: 256 }',
  },
  {
    pattern: 'services.*.resources.memory',
    expected: 'a size from 4M to 16T, like "512M" or "2G" (K, M, G, T: binary multiples; a number is bytes)',
    hint: 'e.g. memory: 512M',
  },
  {
    pattern: 'services.*.resources.cpu',
    expected: 'a number of CPUs from 0.01 to 1024',
    hint: 'e.g. cpu: 1.5 (one and a half CPUs), cpu: 0.25 (a quarter of one)',
  },
  {
    pattern: 'services.*.resources.pids',
    expected: 'a whole number of processes and threads from 1 to 4194304',
    hint: 'e.g. pids: 256; count the worker processes and threads of your app, with room to spare',
  },
  {
    pattern: 'environments',
    expected: 'a mapping of environment names to environments',
    hint: 'e.g. environments: { production: { branch: main }, preview: { branch: "feature/*", hostname: "{branch}.preview.example.com" } }',
  },
  {
    pattern: 'environments.*',
    expected: 'an environment (a mapping with at least `branch`)',
    hint: 'e.g. production: { branch: main }',
  },
  {
    pattern: 'environments.*.branch',
    expected: 'a branch name, or a pattern with "*"',
    hint: 'e.g. branch: main, or branch: "feature/*"; letters, digits and . _ / -, not starting with "-"',
  },
  {
    pattern: 'environments.*.hostname',
    expected: 'a hostname template',
    hint: 'e.g. hostname: "{branch}.preview.example.com"',
  },
  {
    pattern: 'environments.*.data',
    expected: '"empty" or { copy: <environment> }',
    hint: 'e.g. data: { copy: production }',
  },
  {
    pattern: 'environments.*.expire',
    expected: 'a duration like "12h" or "7d", or a number of seconds',
    hint: 'e.g. expire: 7d',
  },
  {
    pattern: 'environments.*.env',
    expected: 'a mapping of variable names to values',
    hint: 'e.g. env: { LOG_LEVEL: debug }',
  },
  {
    pattern: 'environments.*.env.*',
    expected: 'a string, number or boolean',
    hint: 'quote structured values: KEY: \'{"a": 1}\'',
  },
  {
    pattern: 'services.*.health.unhealthy_threshold',
    expected: 'a whole number from 1 to 100',
    hint: 'failed probes in a row before the instance is unhealthy; default 3',
  },
];

function matches(pattern: string, path: KeyPath): boolean {
  const parts = pattern.split('.');
  return parts.length === path.length && parts.every((p, i) => p === '*' || p === String(path[i]));
}

export function ruleFor(path: KeyPath): Rule | undefined {
  return RULES.find((r) => matches(r.pattern, path));
}
