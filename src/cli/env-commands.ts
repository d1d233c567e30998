import { type Command, Option } from 'commander';
import type { EnvironmentStatus } from '../core/results.js';
import { table } from './render.js';
import type { Io } from './secret-commands.js';

/** `berth env ls | rm`: an app's environments (production, previews per branch). */
export function registerEnvCommands(program: Command, { call, print }: Io): void {
  const json = () => new Option('--json', 'print JSON');
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
}
