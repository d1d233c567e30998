import type { Command } from 'commander';
import { table, timestamp } from './render.js';

interface Io {
  call: <T>(method: 'GET' | 'POST' | 'DELETE', route: string, body?: unknown) => Promise<T>;
  print: (v: unknown, human: () => string) => void;
}

/** `berth metrics`: tokens a Prometheus scrapes GET /metrics with (root on the host makes them). */
export function registerMetricsCommands(program: Command, io: Io): void {
  const metrics = program
    .command('metrics')
    .description('tokens for scraping GET /metrics over TCP (root on the host, over the unix socket)');
  metrics
    .command('token')
    .description('make a token that reads GET /metrics only; shown once')
    .argument('<name>', 'what it is for, e.g. prometheus')
    .option('--expires <duration>', 'e.g. 90d (at most 365d)', '365d')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { expires: string }) => {
      const r = await io.call<{ id: number; token: string; expiresAt: number }>('POST', '/v1/metrics/tokens', {
        name,
        expires: opts.expires,
      });
      io.print(
        r,
        () =>
          `${r.token}\nmetrics token ${r.id} (${name}), expires ${timestamp(r.expiresAt)}: give it to the scraper as its bearer token`,
      );
    });
  metrics
    .command('tokens')
    .description('list the metrics tokens')
    .option('--json', 'print JSON')
    .action(async () => {
      const rows = await io.call<Array<{ id: number; name: string; expiresAt: number; lastUsedAt: number | null }>>(
        'GET',
        '/v1/metrics/tokens',
      );
      io.print(rows, () =>
        table(
          ['ID', 'NAME', 'EXPIRES', 'LAST USED'],
          rows.map((t) => [String(t.id), t.name, timestamp(t.expiresAt), timestamp(t.lastUsedAt)]),
        ),
      );
    });
  metrics
    .command('revoke')
    .description('revoke a metrics token')
    .argument('<id>')
    .action(async (id: string) => {
      const r = await io.call<{ deleted: number }>('DELETE', `/v1/metrics/tokens/${encodeURIComponent(id)}`);
      io.print(r, () => `metrics token ${r.deleted} revoked`);
    });
}
