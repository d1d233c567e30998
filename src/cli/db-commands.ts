import type { Command } from 'commander';
import { assertShellHere, runShell, type ShellAnswer } from './db-shell.js';
import type { Io } from './secret-commands.js';

interface DatabaseAnswer {
  readonly app: string;
  readonly env: string;
  readonly service: string;
  readonly engine: string;
  readonly url?: string;
  readonly urlBase64?: string;
}

/** `berth db url`: how to reach an environment's managed database, its password redacted unless --show; `berth db shell`. */
export function registerDbCommands(program: Command, io: Io): void {
  const db = program.command('db').description("an app's managed databases (postgres:, redis: in berth.yaml)");
  db.command('url')
    .description('the connection URL of a database (its password redacted unless --show)')
    .argument('<app>')
    .argument('[service]', 'the database service (default: the only one)')
    .option('--env <env>', 'the environment (default production)')
    .option('--show', 'print the password too (admins): mind your terminal history and screen')
    .option('--json', 'print JSON')
    .action(async (app: string, service: string | undefined, opts: { env?: string; show?: boolean }) => {
      const q = new URLSearchParams();
      if (service !== undefined) q.set('service', service);
      if (opts.env !== undefined) q.set('env', opts.env);
      if (opts.show) q.set('show', 'true');
      const r = await io.call<DatabaseAnswer>('GET', `/v1/apps/${encodeURIComponent(app)}/database?${q.toString()}`);
      const url = r.urlBase64 !== undefined ? Buffer.from(r.urlBase64, 'base64').toString('utf8') : (r.url ?? '');
      io.print({ app: r.app, env: r.env, service: r.service, engine: r.engine, url }, () => url);
    });
  db.command('shell')
    .description("psql or redis-cli on the database, as the environment's user (root on berthd's host)")
    .argument('<app>')
    .argument('[service]', 'the database service (default: the only one)')
    .option('--env <env>', 'the environment (default production)')
    .action(async (app: string, service: string | undefined, opts: { env?: string }) => {
      assertShellHere();
      const q = new URLSearchParams({ show: 'true' });
      if (service !== undefined) q.set('service', service);
      if (opts.env !== undefined) q.set('env', opts.env);
      const r = await io.call<ShellAnswer>('GET', `/v1/apps/${encodeURIComponent(app)}/database?${q.toString()}`);
      process.exitCode = await runShell(r);
    });
}
