import type { Command } from 'commander';
import { ApiError } from '../api/client.js';
import { table, timestamp as when } from './render.js';

export interface Io {
  readonly call: <T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', route: string, body?: unknown) => Promise<T>;
  readonly print: (value: unknown, human: () => string) => void;
}

/** A password from standard input (--password-stdin), or typed at a terminal without echo. */
export async function readPassword(fromStdin: boolean | undefined, prompt = 'password: '): Promise<string> {
  if (fromStdin || !process.stdin.isTTY) {
    if (!fromStdin)
      throw new ApiError(0, 'password_needed', 'no terminal to type a password in', 'pipe it in with --password-stdin');
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, '');
  }
  process.stderr.write(prompt);
  process.stdin.setRawMode(true);
  let typed = '';
  try {
    for await (const c of process.stdin) {
      const s = (c as Buffer).toString('utf8');
      if (s === '\r' || s === '\n') break;
      if (s === '\u0003') throw new ApiError(0, 'cancelled', 'cancelled');
      typed = s === '\u007f' ? typed.slice(0, -1) : typed + s;
    }
  } finally {
    process.stdin.setRawMode(false);
    process.stdin.pause();
    process.stderr.write('\n');
  }
  return typed;
}

/** An app's secrets (set from standard input, never printed) and its push webhook's secret. */
export function registerSecretCommands(program: Command, io: Io): void {
  const secrets = program
    .command('secrets')
    .description("an app's secrets: encrypted at rest, given to its instances and builds, never printed");
  secrets
    .command('set')
    .description(
      'set a secret; the value is read from standard input (never from the command line, where ps and shell history would show it)',
    )
    .argument('<app>')
    .argument('<name>', 'an environment variable name, e.g. DATABASE_URL')
    .option('--env <env>', 'only for this environment (default: every environment)')
    .option('--org <org>', 'for an app never deployed (registered by this): its organisation (default: default)')
    .option('--json', 'print JSON')
    .action(async (app: string, name: string, opts: { env?: string; org?: string }) => {
      if (process.stdin.isTTY) process.stderr.write(`value of ${name} (then Enter and Ctrl-D): `);
      const value = await readPassword(true);
      if (!value)
        throw new ApiError(
          0,
          'empty_secret',
          'no value on standard input',
          `e.g. printf %s "$VALUE" | berth secrets set ${app} ${name}`,
        );
      const r = await io.call<{ name: string; env: string | null; registered?: boolean }>(
        'PUT',
        `/v1/apps/${encodeURIComponent(app)}/secrets/${encodeURIComponent(name)}`,
        { value, ...(opts.env ? { env: opts.env } : {}), ...(opts.org ? { org: opts.org } : {}) },
      );
      io.print(r, () =>
        r.registered
          ? `${app}: registered (never deployed); secret ${r.name} set${r.env ? ` for ${r.env}` : ''}; its first deploy gets it (berth rm ${app} forgets it)`
          : `${app}: secret ${r.name} set${r.env ? ` for ${r.env}` : ''}; it reaches the instances at the next deploy or restart`,
      );
    });
  secrets
    .command('unset')
    .argument('<app>')
    .argument('<name>')
    .option('--env <env>', 'the environment it was set for')
    .option('--json', 'print JSON')
    .action(async (app: string, name: string, opts: { env?: string }) => {
      const r = await io.call(
        'DELETE',
        `/v1/apps/${encodeURIComponent(app)}/secrets/${encodeURIComponent(name)}${opts.env ? `?env=${encodeURIComponent(opts.env)}` : ''}`,
      );
      io.print(r, () => `${app}: secret ${name} removed`);
    });
  secrets
    .command('ls')
    .description('names and dates only: values are never shown')
    .argument('<app>')
    .option('--json', 'print JSON')
    .action(async (app: string) => {
      const rows = await io.call<Array<{ name: string; env: string | null; updatedAt: number }>>(
        'GET',
        `/v1/apps/${encodeURIComponent(app)}/secrets`,
      );
      io.print(rows, () =>
        table(
          ['NAME', 'ENV', 'UPDATED'],
          rows.map((x) => [x.name, x.env ?? '(all)', when(x.updatedAt)]),
        ),
      );
    });

  program
    .command('webhook')
    .description(
      "make (or replace) the app's push webhook secret; shows it once with the URL path for GitHub (content type application/json)",
    )
    .argument('<app>')
    .option('--json', 'print JSON')
    .action(async (app: string) => {
      const r = await io.call<{ path: string; secret: string }>('POST', `/v1/apps/${encodeURIComponent(app)}/webhook`, {
        rotate: true,
      });
      io.print(
        r,
        () =>
          `payload URL: <berthd api_listen URL>${r.path}\nsecret (shown once; the previous one no longer works):\n${r.secret}`,
      );
    });
}
