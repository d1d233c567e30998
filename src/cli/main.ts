import { Command, Option } from 'commander';
import { ApiClient, ApiError } from '../api/client.js';
import { berthHome, HomeLayout } from '../system/paths.js';
import { VERSION } from '../version.js';
import { daemonInfo, ensureDaemon, startDaemon } from './daemon-control.js';
import { proxyLine, renderPs, table } from './render.js';
import { registerDeployCommands } from './deploy-commands.js';
import { reportError } from './deploy-output.js';
import { registerDoctorCommand } from './doctor-command.js';
import { registerIdentityCommands } from './identity-commands.js';
import { registerRunCommands } from './run-commands.js';
import { registerDaemonUnitCommands } from './daemon-commands.js';
import { registerImportCommands } from './import-command.js';
import { registerInitCommand } from './init-command.js';
import { registerImageCommands } from './image-commands.js';
import { registerBackupCommands } from './backup-commands.js';
import { registerMetricsCommands } from './metrics-commands.js';
import { registerTopCommand } from './top-command.js';
import { remoteTarget } from './credentials.js';
import type { RouteView } from '../api/routes-view.js';
import type { EffectiveSetting } from '../config/setting-sources.js';
import { formatDuration } from '../config/duration.js';
import type { EnvironmentStatus, InstanceStatus, ProxyStatus } from '../core/results.js';

const layout = new HomeLayout(berthHome());
const remote = remoteTarget();
const client = new ApiClient(remote ?? layout.socket);
/** Starts berthd when it is not running here; a remote berthd is someone else's to run. */
const ready = async (): Promise<void> => {
  if (!remote) await ensureDaemon(layout, client);
};
let jsonOutput = false;

/** Every command: one API call (starting berthd when needed), then render. */
async function call<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', route: string, body?: unknown): Promise<T> {
  try {
    return await client.call<T>(method, route, body);
  } catch (err) {
    if (remote || !(err instanceof ApiError && err.code === 'unreachable')) throw err;
    await ensureDaemon(layout, client);
    return client.call<T>(method, route, body);
  }
}

function print(value: unknown, human: () => string): void {
  process.stdout.write(jsonOutput ? JSON.stringify(value, null, 2) + '\n' : human() + '\n');
}

const json = () => new Option('--json', 'print JSON');
const program = new Command('berth')
  .description('Run many web apps on your own server, without the archaeology.')
  .version(VERSION);
program.hook('preAction', (_cmd, action) => {
  jsonOutput = Boolean(action.optsWithGlobals().json); // `berth images prune --json`: the option may be the parent's
});

registerDeployCommands(program, { client, ready, call, print, json: () => jsonOutput });
registerDoctorCommand(program, { client, ready, print });
registerIdentityCommands(program, { call, print });
registerRunCommands(program, { client, ready, print });
registerImportCommands(program);
registerInitCommand(program);
registerImageCommands(program, { call, print });
registerBackupCommands(program, { call, print });
registerMetricsCommands(program, { call, print });
registerTopCommand(program, { call });

program
  .command('ps')
  .description('list instances: app, env, service, state, pid, port, uptime, restarts')
  .argument('[app]')
  .addOption(json())
  .action(async (app?: string) => {
    const rows = await call<InstanceStatus[]>(
      'GET',
      app ? `/v1/apps/${encodeURIComponent(app)}/instances` : '/v1/instances',
    );
    print(rows, () => renderPs(rows));
  });

for (const action of ['start', 'stop', 'restart'] as const) {
  program
    .command(action)
    .description(`${action} the services of an app, or one service`)
    .argument('<app>')
    .argument('[service]')
    .option('--env <env>', 'the environment (default production)')
    .addOption(json())
    .action(async (app: string, service: string | undefined, opts: { env?: string }) => {
      const rows = await call<InstanceStatus[]>('POST', `/v1/apps/${encodeURIComponent(app)}/${action}`, {
        ...(service ? { service } : {}),
        ...(opts.env ? { env: opts.env } : {}),
      });
      print(rows, () => renderPs(rows));
    });
}

program
  .command('rm')
  .description('stop an app, free its ports and forget it (its data directory stays unless --purge)')
  .argument('<app>')
  .option('--purge', 'also delete its data directory')
  .option('--wait', 'queue behind a running deployment of the app instead of failing')
  .addOption(json())
  .action(async (app: string, opts: { purge?: boolean; wait?: boolean }) => {
    const query = [opts.purge ? 'purge=true' : '', opts.wait ? 'wait=true' : ''].filter(Boolean).join('&');
    const r = await call<{ app: string; purged: boolean }>(
      'DELETE',
      `/v1/apps/${encodeURIComponent(app)}${query ? `?${query}` : ''}`,
    );
    print(r, () => `removed ${r.app}${r.purged ? ' and its data' : ' (data kept; `berth rm --purge` deletes it)'}`);
  });

program
  .command('logs')
  .description('print the logs of an app or one service; -f to follow')
  .argument('<app>')
  .argument('[service]')
  .option('-f, --follow', 'keep printing new lines')
  .option('-n, --lines <n>', 'lines from the end of each log', '100')
  .option('--build', 'the build log (of --release, default the newest attempt)')
  .option('--release <n>', "that release's logs: also a failed attempt's, whose instances are gone")
  .option('--cron <job>', 'the log of a `cron:` job (every run of it)')
  .option('--env <name>', 'with --build, --release or --cron: the environment', 'production')
  .option('--json', 'one JSON object per line: { service, instance, line }')
  .action(
    async (
      app: string,
      service: string | undefined,
      opts: {
        follow?: boolean;
        lines: string;
        json?: boolean;
        build?: boolean;
        release?: string;
        cron?: string;
        env: string;
      },
    ) => {
      const n = Number(opts.lines);
      if (!Number.isInteger(n) || n < 0)
        throw new ApiError(400, 'invalid', `--lines expects a whole number, got "${opts.lines}"`);
      if (opts.release !== undefined && !/^[1-9]\d{0,8}$/.test(opts.release))
        throw new ApiError(400, 'invalid', `--release expects a release number, got "${opts.release}"`);
      await ready();
      const q = new URLSearchParams({
        lines: String(n),
        ...(service ? { service } : {}),
        ...(opts.build ? { build: 'true' } : {}),
        ...(opts.release !== undefined ? { release: opts.release } : {}),
        ...(opts.cron !== undefined ? { cron: opts.cron } : {}),
        ...(opts.build || opts.release !== undefined || opts.cron !== undefined ? { env: opts.env } : {}),
        ...(opts.follow ? { follow: 'true' } : {}),
        ...(opts.json ? { json: 'true' } : {}),
      });
      for await (const chunk of client.stream(`/v1/apps/${encodeURIComponent(app)}/logs?${q.toString()}`))
        process.stdout.write(chunk);
    },
  );

program
  .command('events')
  .description('recent events, newest last')
  .argument('[app]')
  .addOption(json())
  .action(async (app?: string) => {
    const rows = await call<Array<{ at: number; app: string; kind: string; message: string }>>(
      'GET',
      app ? `/v1/apps/${encodeURIComponent(app)}/events` : '/v1/events',
    );
    print(rows, () => rows.map((e) => `${new Date(e.at).toISOString()}  ${e.app}  ${e.kind}  ${e.message}`).join('\n'));
  });

program
  .command('routes')
  .description('every live route: host, path, app, env, service, upstream, healthy, TLS')
  .addOption(json())
  .action(async () => {
    const rows = await call<RouteView[]>('GET', '/v1/routes');
    print(rows, () =>
      rows.length === 0
        ? 'no routes: add `routes:` to a service in berth.yaml'
        : table(
            ['HOST', 'PATH', 'APP', 'ENV', 'SERVICE', 'UPSTREAM', 'HEALTHY', 'TLS'],
            rows.map((r) => [
              r.host,
              r.path + (r.strip ? ' (strip)' : ''),
              r.app,
              r.env,
              r.service,
              r.upstream || '-',
              r.healthy ? 'yes' : 'NO',
              r.tls === 'none' ? 'none (plain HTTP)' : r.tls,
            ]),
          ),
    );
  });

const envCmd = program.command('env').description('the environments of an app: production, previews per branch');
envCmd
  .command('ls')
  .description('environments of an app: branch, release, hostnames, instances, last deploy, expiry')
  .argument('<app>')
  .addOption(json())
  .action(async (app: string) => {
    const rows = await call<EnvironmentStatus[]>('GET', `/v1/apps/${encodeURIComponent(app)}/environments`);
    const when = (t: number | null) => (t === null ? '-' : new Date(t).toISOString().replace(/\.\d+Z$/, 'Z'));
    print(rows, () =>
      table(
        ['ENV', 'BRANCH', 'RELEASE', 'HOSTS', 'HEALTHY', 'LAST DEPLOY', 'EXPIRES'],
        rows.map((e) => [
          e.name + (e.preview ? ' (preview)' : ''),
          e.branch ?? '-',
          e.release === null ? '-' : String(e.release),
          e.hosts.join(' ') || '-',
          `${e.instances.healthy}/${e.instances.total}`,
          when(e.lastDeployAt),
          when(e.expiresAt),
        ]),
      ),
    );
  });
envCmd
  .command('rm')
  .description('stop an environment, free its ports and remove its routes, releases, logs and data: all or nothing')
  .argument('<app>')
  .argument('<env>')
  .option('--force', 'also remove an environment that is not a preview (its data is gone for good)')
  .addOption(json())
  .action(async (app: string, env: string, opts: { force?: boolean }) => {
    const r = await call<{ app: string; env: string }>(
      'DELETE',
      `/v1/apps/${encodeURIComponent(app)}/environments/${encodeURIComponent(env)}${opts.force ? '?force=true' : ''}`,
    );
    print(
      r,
      () => `removed ${r.app} (${r.env}): instances stopped, ports freed, routes, releases, logs and data removed`,
    );
  });

const proxyCmd = program
  .command('proxy')
  .description('the proxy that serves the routes (keeps serving when berthd is down)');
for (const action of ['status', 'start', 'stop'] as const) {
  proxyCmd
    .command(action)
    .addOption(json())
    .action(async () => {
      const s = await call<ProxyStatus>(
        action === 'status' ? 'GET' : 'POST',
        action === 'status' ? '/v1/proxy' : `/v1/proxy/${action}`,
      );
      print(s, () =>
        [
          action === 'stop' && !s.running && !s.pid
            ? `${s.kind} proxy stopped`
            : s.running
              ? proxyLine(s)
              : `${s.kind} proxy is not running${s.problem ? `: ${s.problem}` : ''}`,
          ...(s.leftovers ?? []).map(
            (p) => `  leftover: ${p.what}, pid ${p.pid} (${p.command}): \`berth proxy stop\` ends it`,
          ),
        ].join('\n'),
      );
    });
}

const config = program.command('config').description('host settings in $BERTH_HOME/config.yaml (proxy, ports, ...)');
config
  .command('get')
  .description('the settings in effect and where each comes from: env (BERTH_*), config.yaml, or the default')
  .argument('[key]')
  .addOption(json())
  .action(async (key?: string) => {
    const r = await call<{ file: string; effective: EffectiveSetting[] }>('GET', '/v1/config');
    const show = (v: unknown) =>
      v === null
        ? '-'
        : typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'
          ? String(v)
          : JSON.stringify(v);
    if (key === undefined) {
      print(r.effective, () =>
        table(
          ['KEY', 'VALUE', 'SOURCE'],
          r.effective.map((e) => [e.key, show(e.value), e.source === 'config.yaml' ? r.file : e.source]),
        ),
      );
      return;
    }
    const [top, ...rest] = key.split('.');
    const e = r.effective.find((x) => x.key === top);
    if (!e)
      throw new ApiError(400, 'invalid', `"${key}" is not a settings key; see \`berth config get\` for all of them`);
    const value = rest.reduce<unknown>((v, k) => (v as Record<string, unknown> | null)?.[k], e.value) ?? null;
    print(
      { key, value, source: e.source },
      () => `${show(value)}  (${e.source === 'config.yaml' ? r.file : e.source})`,
    );
  });
config
  .command('set')
  .description('set one key (validated first); berthd restarts to apply it and re-applies every route')
  .argument('<key>')
  .argument('<value>')
  .addOption(json())
  .action(async (key: string, value: string) => {
    const r = await call<{ file: string; settings: Record<string, unknown> }>('PUT', '/v1/config', { key, value });
    while (await daemonInfo(client)) await new Promise((res) => setTimeout(res, 50));
    await ensureDaemon(layout, client);
    print(r, () => `${key} = ${value} (in ${r.file}); berthd restarted and applied it`);
  });

const daemon = program.command('daemon').description('the berthd background process');
daemon
  .command('status')
  .addOption(json())
  .action(async () => {
    const info = await daemonInfo(client);
    print(info ?? { running: false }, () =>
      info
        ? `berthd ${info.version} running${remote ? ` at ${remote.url}` : ''}, pid ${info.pid}, up ${formatDuration(info.uptimeMs)}, home ${info.home}${info.leadership === 'follower' ? '; a follower: another berthd sharing the store leads' : ''}`
        : `berthd is not running (home ${layout.root})`,
    );
    if (!info) process.exitCode = 3;
  });
daemon
  .command('start')
  .addOption(json())
  .action(async () => {
    if (remote) {
      // A remote berthd is its host's to start: say whether it answers.
      const info = await client.call<{ pid: number; version: string }>('GET', '/v1/daemon');
      print(info, () => `berthd at ${remote.url} is running (pid ${info.pid} there); starting it is for its host`);
      return;
    }
    const info = (await daemonInfo(client)) ?? (await startDaemon(layout, client));
    print(info, () => `berthd running, pid ${info.pid}`);
  });
daemon
  .command('stop')
  .description('stop berthd; apps keep running and are adopted by the next berthd')
  .addOption(json())
  .action(async () => {
    const info = await daemonInfo(client);
    if (info) {
      await client.call('POST', '/v1/daemon/stop');
      while (await daemonInfo(client)) await new Promise((r) => setTimeout(r, 50));
    }
    print({ stopped: Boolean(info) }, () =>
      info ? `berthd stopped (pid ${info.pid}); apps keep running` : 'berthd was not running',
    );
  });
registerDaemonUnitCommands(daemon, { home: layout.root, print });

program
  .parseAsync(process.argv)
  .catch((err: unknown) => reportError(err, jsonOutput))
  .finally(() => void client.close());
