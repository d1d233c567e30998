import { z } from 'zod';
import { swarmServiceKeys } from './manifest-swarm.js';
import { containerBuild, duration, health, IMAGE_PATTERN, name, resources, route } from './manifest-parts.js';
import { backupSchema } from './manifest-backup.js';
import { ENV_KEY_PATTERN } from './manifest-basics.js';

/**
 * The berth.yaml schema. It validates input only (no transforms), so the same object
 * generates `schema/berth.schema.json`; `manifest.ts` turns a valid input into the frozen,
 * normalised `Manifest`. Every field's description is its user documentation and states
 * its default.
 */

export {
  HEALTH_PATH_PATTERN,
  HOST_PATTERN,
  IMAGE_PATTERN,
  RESOURCE_BOUNDS,
  ROUTE_PATH_PATTERN,
  ROUTE_SHORTHAND_PATTERN,
} from './manifest-parts.js';
export { ENV_KEY_PATTERN };

export const serviceSchema = z.strictObject({
  run: z
    .union([z.string().min(1), z.array(z.string()).min(1)])
    .optional()
    .describe(
      "What to run. A string is the author's own shell command, run with `sh -c`; an array is an argv run without a shell. A service has `run` or `static`.",
    ),
  static: z
    .string()
    .min(1)
    .optional()
    .describe(
      'A directory of files the proxy serves itself (no process), relative to the manifest. A service has `run` or `static`.',
    ),
  spa: z
    .boolean()
    .optional()
    .describe('With `static`: answer unknown paths with index.html (single-page apps). Default false.'),
  build: z
    .union([z.string().min(1), z.array(z.string().min(1)).min(1), containerBuild])
    .optional()
    .describe(
      "Build commands, run in order with `sh -c` in the service's cwd of a fresh release directory before anything starts; or, as a mapping { dockerfile, context, args, target }, a container image built from the release snapshot. Default none.",
    ),
  deps: z
    .enum(['auto', 'python', 'node', 'none'])
    .optional()
    .describe(
      "For a process: its dependencies, installed in each release before `build:` runs. `python`: a virtualenv in <cwd>/.venv (`python3 -m venv`, then `pip install` of requirements.txt, else of pyproject.toml's [project] dependencies), its bin first on PATH for the process, its release hook, cron jobs and `berth run`; pip's own settings come from `env` (e.g. PIP_INDEX_URL). `node`: `npm ci` (package-lock.json or npm-shrinkwrap.json), node_modules/.bin on PATH. `auto` picks `python` when the cwd has requirements.txt or pyproject.toml dependencies, else `node` when it has package.json with a lockfile and no `build:`, else `none`. Default `auto`.",
    ),
  image: z
    .string()
    .min(1)
    .max(512)
    .regex(IMAGE_PATTERN)
    .optional()
    .describe(
      'Run this container image (e.g. "ghcr.io/saleor/saleor:3.20") through the container engine (host setting container_engine) instead of a process. With `postgres: <v>`: the managed cluster runs from this image (e.g. "postgres:15"; its tag names the same major version) instead of the host\'s binaries. Default none.',
    ),
  postgres: z
    .union([z.number().int().min(10).max(99), z.string().regex(/^[1-9][0-9]$/)])
    .optional()
    .describe(
      "A managed PostgreSQL cluster of this major version (e.g. 15) for each environment, run from the host's binaries (Debian's postgresql-<version>, /usr/lib/postgresql/<version>/bin): its data in the environment's data directory, a leased port on 127.0.0.1 and a unix socket, a generated password kept as the environment's secret <NAME>_PASSWORD. Services that depend on it get DATABASE_URL and PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE. One instance, kept running across deploys; stopped with a fast shutdown. With `image: \"postgres:<version>\"` it runs from that image through the container engine instead (Berth runs its initdb and postgres with its own arguments, as the environment's user, its data bind-mounted; the image's entrypoint is not used), the same in every other way. Default none.",
    ),
  redis: z
    .union([z.number().int().min(5).max(99), z.string().regex(/^[1-9][0-9]?$/)])
    .optional()
    .describe(
      "A managed Redis server of this major version (e.g. 7) for each environment, run from the host's redis-server (Debian's redis-server): append-only persistence in the environment's data directory, a leased port on 127.0.0.1 and a unix socket, `requirepass` from the environment's secret <NAME>_PASSWORD. Services that depend on it get REDIS_URL. One instance, kept running across deploys. Default none.",
    ),
  pull: z
    .enum(['always', 'missing'])
    .optional()
    .describe(
      'For an `image:` container: when a deploy pulls it from its registry. `always`: at every deploy (the tag may have moved); `missing`: only when the engine does not have it. Default `always` for a `:latest` or untagged image, `missing` for any other tag or a digest.',
    ),
  registry_auth: z
    .strictObject({
      username: z.string().min(1).max(256).optional().describe('The user name, as is (not a secret).'),
      username_secret: z
        .string()
        .regex(ENV_KEY_PATTERN)
        .optional()
        .describe("Or the name of the app's secret holding the user name."),
      password_secret: z
        .string()
        .regex(ENV_KEY_PATTERN)
        .describe("The name of the app's secret (`berth secrets set`) holding the password or token."),
    })
    .optional()
    .describe(
      'For an `image:` container from a private registry: the credentials the engine pulls with, `{ username | username_secret, password_secret }`. Their values go to the engine only, never to a log, the journal or an error. Default none (an anonymous pull).',
    ),
  container_port: z
    .number()
    .int()
    .min(1)
    .max(65535)
    .optional()
    .describe(
      "For a container: the port it listens on inside. It is published on 127.0.0.1:<the service's leased port> only, never on other addresses. Required for a container with a port.",
    ),
  entrypoint: z
    .union([z.string().min(1), z.array(z.string()).min(1)])
    .optional()
    .describe(
      "For a container: replaces the image's entrypoint (a string is one program, without a shell; a list is an argv). `run:` is its command. Default: the image's.",
    ),
  user: z
    .string()
    .regex(/^([a-z_][a-z0-9_.-]{0,31}|\d{1,10})(:([a-z_][a-z0-9_.-]{0,31}|\d{1,10}))?$/)
    .optional()
    .describe(
      'For a container: the user (and group) it runs as, a name of the image\'s or a number, e.g. "1000:1000" or "app". Default: the image\'s USER.',
    ),
  volumes: z
    .record(z.string().max(1024), z.string())
    .optional()
    .describe(
      "For a container: { /path/inside: name } mounts the directory <name> of the environment's $DATA_DIR at /path/inside. Nothing else of the host is ever mounted. Default none.",
    ),
  release: z
    .union([z.string().min(1), z.array(z.string()).min(1)])
    .optional()
    .describe(
      "Release hook: run once per deploy, after the build and before any instance of the new release starts, in the new release's cwd with the service's env, secrets and $DATA_DIR (no $PORT), as the app's user; e.g. a database migration. A string runs with `sh -c`, an array without a shell. Its output goes to the build log; if it fails, the deploy fails and the serving release stays. It is not undone when a later step fails, and a rollback does not run it. Default none.",
    ),
  strategy: z
    .enum(['blue-green', 'recreate'])
    .optional()
    .describe(
      'How a deploy replaces instances. "blue-green" starts the new ones, switches traffic when they are healthy, then drains and stops the old (default). "recreate" stops the old first: for workers and single-writer apps (default for `port: none` and pinned ports).',
    ),
  drain: duration
    .optional()
    .describe(
      'After traffic moves to a new release, how long requests in flight to the old instances may take before they are stopped. Default 30s.',
    ),
  cwd: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Working directory, relative to the manifest and inside it: where the process and its build commands run (for a static service, its build; `static:` stays relative to the manifest). Default ".".',
    ),
  env: z
    .record(z.string().regex(ENV_KEY_PATTERN), z.union([z.string(), z.number(), z.boolean()]))
    .optional()
    .describe('Environment variables. PORT and DATA_DIR are set by Berth and cannot be overridden. Default none.'),
  port: z
    .union([z.literal('auto'), z.literal('none'), z.number().int().min(1).max(65535)])
    .optional()
    .describe(
      '"auto" leases a free port from the host range (default); a number pins it; "none" is for workers that listen nowhere. Passed as $PORT.',
    ),
  restart: z
    .enum(['always', 'on-failure', 'never'])
    .optional()
    .describe('Restart policy when the process exits. Default "always".'),
  depends_on: z
    .array(name)
    .optional()
    .describe(
      'Services of this app that must be running before this one starts. Each that listens on a port is passed as <NAME>_URL, <NAME>_HOST and <NAME>_PORT (name upper-cased, "-" as "_"): its address in the same release, balanced over its instances; a value set in env wins. Default none.',
    ),
  instances: z
    .number()
    .int()
    .min(1)
    .max(64)
    .optional()
    .describe('How many processes to run, each with its own port. Default 1.'),
  stop_timeout: duration.optional().describe('Time between SIGTERM and SIGKILL when stopping. Default 10s.'),
  routes: z.array(route).optional().describe('Hostnames and path prefixes that reach this service. Default none.'),
  resources: resources
    .optional()
    .describe(
      'Limits for every process of each instance, enforced with cgroups (v2, or v1 where the host mounts v1 controllers): { memory: 512M, cpu: 1.5, pids: 256 }. Each instance has its own. Default: none (an instance may use what the host has).',
    ),
  health: health
    .optional()
    .describe(
      'Readiness and liveness check. Default: ready when the process itself listens on $PORT (with `port: none`: when it runs).',
    ),
  ...swarmServiceKeys,
});

/** A branch name or a pattern with "*" (any characters, "/" included). Never starts with "-". */
export const BRANCH_PATTERN = /^[A-Za-z0-9_*][A-Za-z0-9._/*-]{0,199}$/;

export const environmentSchema = z.strictObject({
  branch: z
    .string()
    .regex(BRANCH_PATTERN)
    .describe(
      'The branch this environment runs ("main"), or a pattern ("feature/*": "*" matches any characters, "/" included) that creates one environment per matching branch, named after the branch made DNS-safe ("feature/login" -> "feature-login").',
    ),
  hostname: z
    .string()
    .min(1)
    .max(253)
    .optional()
    .describe(
      'How route hosts are derived in this environment. Placeholders: {branch} (the branch, DNS-safe), {host} (the route\'s host as written), {service}, {app}. E.g. "{branch}.preview.example.com" for one host, "{branch}.{host}" or "{branch}-{service}.preview.example.com" for several. Default: the hosts as written (one environment at most). Required for a pattern when any service has routes.',
    ),
  data: z
    .union([
      z.literal('empty'),
      z.strictObject({ copy: name.describe('The environment whose data dir a new environment starts from.') }),
    ])
    .optional()
    .describe(
      'What a new environment\'s data dir ($DATA_DIR) starts with: "empty" (default), or { copy: <environment> }, a consistent copy made when the environment is created (SQLite files through SQLite\'s backup API, never a torn copy).',
    ),
  expire: duration
    .optional()
    .describe(
      'Remove an environment made from this pattern after it has had no deployment for this long, e.g. "7d". Default: never.',
    ),
  env: z
    .record(z.string().regex(ENV_KEY_PATTERN), z.union([z.string(), z.number(), z.boolean()]))
    .optional()
    .describe("Environment variables for every service in this environment, over the services' own. Default none."),
});

const cronJob = z.strictObject({
  schedule: z
    .string()
    .min(1)
    .max(200)
    .describe(
      'When it runs, in UTC: 5-field cron syntax "minute hour day-of-month month day-of-week" with lists, ranges and steps ("*/15 * * * *", "30 3 * * 1-5"), or @hourly, @daily, @weekly, @monthly, @yearly.',
    ),
  run: z
    .union([z.string().min(1), z.array(z.string()).min(1)])
    .describe(
      "What to run, in the current release with the service's cwd, env, secrets and user. A string is run with `sh -c`; an array is an argv run without a shell.",
    ),
  service: name
    .optional()
    .describe(
      'The service whose release directory, env, secrets and user the job gets. Default: the first service that runs a process.',
    ),
  overlap: z
    .boolean()
    .optional()
    .describe(
      'Start a run while the previous one still runs. Default false: the run then due is skipped, and the skip recorded.',
    ),
});

export const manifestSchema = z
  .strictObject({
    app: name.describe('The app name: a DNS label (a-z, 0-9, "-", at most 63 characters).'),
    services: z.record(name, serviceSchema).describe('The services of this app, by name (DNS labels).'),
    notify: z
      .array(
        z
          .string()
          .regex(/^https?:\/\/[^\s/?#]+[^\s]*$/)
          .max(2048),
      )
      .max(10)
      .optional()
      .describe(
        'URLs that get a POST (JSON: app, env, kind, status, release, error) when a deployment of this app ends. Internal addresses are refused unless outbound_allow in config.yaml lists them. Default none.',
      ),
    environments: z
      .record(name, environmentSchema)
      .optional()
      .describe(
        'Environments by name, each with the branch (or branch pattern) it runs. With environments, every deploy is of a branch and goes where that branch belongs; production only ever runs its own branch. Default: one environment, "production", deploying whatever it is given.',
      ),
    cron: z
      .record(name, cronJob)
      .optional()
      .describe(
        "Scheduled jobs by name (DNS labels), run by berthd in each environment's current release; output in `berth logs <app> --cron <name>`, failures in events. Default none.",
      ),
    backup: backupSchema.optional(),
  })
  .describe('berth.yaml: one app and its services.');

export type ManifestInput = z.input<typeof manifestSchema>;
export type ServiceInput = z.input<typeof serviceSchema>;
export type EnvironmentInput = z.input<typeof environmentSchema>;
export type CronJobInput = z.input<typeof cronJob>;
