import { Command, Option } from 'commander';
import { ApiClient, ApiError } from '../api/client.js';
import { berthHome, HomeLayout } from '../system/paths.js';
import { VERSION } from '../version.js';
import { daemonInfo, ensureDaemon, startDaemon } from './daemon-control.js';
import { renderPs, table } from './render.js';
import { registerDeployCommands } from './deploy-commands.js';
import { reportError } from './deploy-output.js';
import { registerDoctorCommand } from './doctor-command.js';
import { registerIdentityCommands } from './identity-commands.js';
import { registerRunCommands } from './run-commands.js';
import { registerDaemonUnitCommands } from './daemon-commands.js';
import { registerImportCommands } from './import-command.js';
import { registerInitCommand } from './init-command.js';
import { registerImageCommands } from './image-commands.js';
import { registerClusterCommands } from './cluster-commands.js';
import { registerBackupCommands } from './backup-commands.js';
import { registerMetricsCommands } from './metrics-commands.js';
import { registerTopCommand } from './top-command.js';
import { registerEnvCommands } from './env-commands.js';
import { registerHostCommands } from './host-commands.js';
import { remoteTarget } from './credentials.js';
import type { RouteView } from '../api/routes-view.js';
import { formatDuration } from '../config/duration.js';
import type { InstanceStatus } from '../core/results.js';

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
registerClusterCommands(program, { call, print });
registerBackupCommands(program, { call, print });
registerMetricsCommands(program, { call, print });
registerTopCommand(program, { call });
registerEnvCommands(program, { call, print });
registerHostCommands(program, { call, print }, async () => {
  while (await daemonInfo(client)) await new Promise((res) => setTimeout(res, 50));
  await ensureDaemon(layout, client);
});

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
