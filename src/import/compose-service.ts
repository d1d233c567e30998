import { berthDuration, composeDurationMs } from './compose-duration.js';
import { mapEnvironment } from './compose-env.js';
import { mapHealthcheck } from './compose-health.js';
import { mapLabels } from './compose-labels.js';
import { mapImageAndBuild } from './compose-build.js';
import { mapPorts, type Published } from './compose-ports.js';
import { mapPull } from './compose-pull.js';
import { mapVolumes, type VolumeNames } from './compose-volumes.js';
import type { ServiceContext, ServiceOut } from './import-context.js';
import { at, isMapping } from './import-warnings.js';
import { shellWords } from './shell-words.js';

/** Keys mapped here (depends_on by the caller, which knows every service). */
const MAPPED = new Set([
  ...['image', 'build', 'ports', 'expose', 'environment', 'env_file', 'healthcheck', 'volumes'],
  ...['command', 'entrypoint', 'restart', 'stop_grace_period', 'deploy', 'depends_on', 'labels', 'pull_policy'],
]);

/** Why some well-known keys are not mapped; any other key gets the generic reason. */
const WHY: Readonly<Record<string, string>> = {
  container_name: 'Berth names containers itself (app, environment, service, release, instance)',
  networks: 'each app environment has a network of its own, where its services reach each other by service name',
  network_mode: "each app environment has a network of its own; a host or another container's network is refused",
  links: "services reach each other by service name on the app's network",
  logging: "Berth keeps a container's output in its own log files (berth logs)",
  privileged: 'Berth never runs a privileged container',
  cap_add: 'Berth adds no capabilities',
  devices: 'Berth gives a container no host devices',
  pid: 'Berth never shares the host PID namespace',
  ipc: 'Berth never shares the host IPC namespace',
  stop_signal: 'Berth stops with SIGTERM, then SIGKILL after stop_timeout',
  secrets: 'Berth gives secrets as environment variables: berth secrets set <app> NAME',
  configs: 'put the file in the image or in the source it is built from',
};

/**
 * Maps one compose service to a berth.yaml service (without depends_on, and without the route a
 * published port gets: compose-publish, which knows every service), with what `ports:` published.
 */
export function mapService(
  svc: Record<string, unknown>,
  ctx: ServiceContext,
  volumes: VolumeNames,
): { out: ServiceOut; published: Published | undefined } {
  const out: ServiceOut = {};
  mapImageAndBuild(svc, ctx, out);
  mapPull(svc, ctx, out);
  const published = mapPorts(svc, ctx, out);
  const run = argv(svc.command, at(ctx.path, 'command'), ctx);
  if (run) out.run = run;
  const entrypoint = argv(svc.entrypoint, at(ctx.path, 'entrypoint'), ctx);
  if (entrypoint) out.entrypoint = entrypoint;
  mapEnvironment(svc, ctx, out);
  mapVolumes(svc, ctx, out, volumes);
  mapHealthcheck(svc, ctx, out);
  mapLabels(svc, ctx, out);
  mapRestart(svc.restart, ctx, out);
  if (svc.stop_grace_period !== undefined) {
    const ms = composeDurationMs(svc.stop_grace_period);
    const text = ms === undefined ? undefined : berthDuration(ms);
    if (text === undefined) ctx.warn.notMapped(at(ctx.path, 'stop_grace_period'), 'not a duration Berth can keep');
    else out.stop_timeout = text;
  }
  mapDeploy(svc.deploy, ctx, out);
  for (const key of Object.keys(svc))
    if (!MAPPED.has(key)) ctx.warn.notMapped(at(ctx.path, key), WHY[key] ?? 'Berth has no setting for it');
  return { out, published };
}

/** A compose command (a string is split into words as compose does: no shell runs it) as an argv list. */
function argv(value: unknown, p: string, ctx: ServiceContext): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  const words =
    typeof value === 'string'
      ? shellWords(value)
      : Array.isArray(value) && value.every((w) => typeof w === 'string' || typeof w === 'number')
        ? value.map(String)
        : undefined;
  if (words === undefined) ctx.warn.notMapped(p, 'expected a string or a list of strings (with closed quotes)');
  else if (words.length === 0) ctx.warn.notMapped(p, "empty: the image's own is used");
  else return words;
  return undefined;
}

const RESTART: Readonly<Record<string, string>> = {
  no: 'never',
  always: 'always',
  'unless-stopped': 'always',
  'on-failure': 'on-failure',
};

function mapRestart(value: unknown, ctx: ServiceContext, out: ServiceOut): void {
  if (value === undefined) return;
  const p = at(ctx.path, 'restart');
  const m = typeof value === 'string' ? /^(on-failure):(\d+)$/.exec(value) : null;
  const policy = typeof value === 'string' ? RESTART[m ? 'on-failure' : value] : undefined;
  if (policy === undefined) return ctx.warn.notMapped(p, 'expected no, always, on-failure or unless-stopped');
  out.restart = policy;
  if (m)
    ctx.warn.add(
      p,
      `the limit of ${m[2]} retries is not kept: Berth restarts with a backoff and stops at a crash loop`,
    );
}

function mapDeploy(deploy: unknown, ctx: ServiceContext, out: ServiceOut): void {
  if (deploy === undefined) return;
  const p = at(ctx.path, 'deploy');
  if (!isMapping(deploy)) return ctx.warn.notMapped(p, 'expected a mapping');
  for (const [key, value] of Object.entries(deploy)) {
    if (key === 'replicas' && typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 64)
      out.instances = value;
    else
      ctx.warn.notMapped(
        at(p, key),
        key === 'replicas'
          ? 'expected a whole number from 1 to 64'
          : key === 'resources'
            ? "set limits with the service's resources: { memory, cpu, pids } yourself"
            : 'Swarm deploy settings have no place in berth.yaml',
      );
  }
}
