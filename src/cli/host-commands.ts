import { type Command, Option } from 'commander';
import { ApiError } from '../api/client.js';
import type { EffectiveSetting } from '../config/setting-sources.js';
import type { ProxyStatus } from '../core/results.js';
import { proxyLine, table } from './render.js';
import type { Io } from './secret-commands.js';

/**
 * The host's own: `berth proxy status | start | stop` and `berth config get | set` (config.yaml).
 * `restarted` waits until berthd, which restarts to apply a setting, answers again.
 */
export function registerHostCommands(program: Command, { call, print }: Io, restarted: () => Promise<void>): void {
  const json = () => new Option('--json', 'print JSON');
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
      await restarted();
      print(r, () => `${key} = ${value} (in ${r.file}); berthd restarted and applied it`);
    });
}
