import type { Command } from 'commander';
import { ApiClient, ApiError } from '../api/client.js';
import { removeCredentials, saveCredentials } from './credentials.js';
import { table, timestamp as when } from './render.js';
import { readPassword, registerSecretCommands, type Io } from './secret-commands.js';
import { registerDbCommands } from './db-commands.js';

/** login/logout, admin users, organisations, members, invites, tokens, the audit log. */
export function registerIdentityCommands(program: Command, io: Io): void {
  program
    .command('login')
    .description('sign in to a remote berthd (its api_listen URL); every command then talks to it')
    .argument('<url>', 'e.g. https://berth.example.com:7700')
    .requiredOption('--user <name>', 'user name')
    .option('--password-stdin', 'read the password from standard input')
    .option('--json', 'print JSON')
    .action(async (url: string, opts: { user: string; passwordStdin?: boolean }) => {
      if (!/^https?:\/\/[^\s/]+/.test(url))
        throw new ApiError(
          0,
          'invalid_url',
          `expected an http(s) URL like https://berth.example.com:7700, got ${JSON.stringify(url)}`,
        );
      const password = await readPassword(opts.passwordStdin);
      const r = await new ApiClient({ url }).call<{ token: string; expiresAt: number; user: string }>(
        'POST',
        '/v1/login',
        { name: opts.user, password },
      );
      const file = saveCredentials({ url, token: r.token, user: r.user, expiresAt: r.expiresAt });
      io.print(
        { user: r.user, url, expiresAt: r.expiresAt, file },
        () => `signed in to ${url} as ${r.user} until ${when(r.expiresAt)} (token kept in ${file}, mode 0600)`,
      );
    });
  program
    .command('logout')
    .description('sign out of the remote berthd: revoke the token and forget it')
    .option('--json', 'print JSON')
    .action(async () => {
      await io.call('POST', '/v1/logout').catch(() => undefined);
      const removed = removeCredentials();
      io.print({ signedOut: removed }, () => (removed ? 'signed out' : 'not signed in'));
    });
  program
    .command('whoami')
    .description('who this CLI acts as')
    .option('--json', 'print JSON')
    .action(async () => {
      const r = await io.call<{ user: string | null; local?: boolean; orgs?: Array<{ name: string; role: string }> }>(
        'GET',
        '/v1/me',
      );
      io.print(r, () =>
        r.user
          ? `${r.user}: ${(r.orgs ?? []).map((o) => `${o.name} (${o.role})`).join(', ') || 'no organisations'}`
          : 'root on this host (unix socket)',
      );
    });

  const admin = program.command('admin').description('host administration (root on the host, over the unix socket)');
  admin
    .command('create')
    .description('create a user (the first admin can only be made here, never over the network)')
    .argument('<name>')
    .option('--org <org>', 'make them a member of this organisation')
    .option('--role <role>', 'their role there: owner, admin, member or viewer', 'member')
    .option('--password-stdin', 'read the password from standard input')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { org?: string; role: string; passwordStdin?: boolean }) => {
      const password = await readPassword(opts.passwordStdin);
      const r = await io.call<{ user: string; org?: string; role?: string }>('POST', '/v1/admin/users', {
        name,
        password,
        ...(opts.org ? { org: opts.org, role: opts.role } : {}),
      });
      io.print(r, () => `created user ${r.user}${r.org ? `, ${r.role} of ${r.org}` : ''}`);
    });

  const org = program.command('org').description('organisations: every app belongs to one');
  org
    .command('create')
    .argument('<name>')
    .option('--json', 'print JSON')
    .action(async (name: string) => {
      const r = await io.call<{ org: string }>('POST', '/v1/orgs', { name });
      io.print(r, () => `created organisation ${r.org}`);
    });
  org
    .command('ls')
    .option('--json', 'print JSON')
    .action(async () => {
      const rows = await io.call<
        Array<{ name: string; role: string; quota: { apps: number | null; instances: number | null } }>
      >('GET', '/v1/orgs');
      io.print(rows, () =>
        table(
          ['ORG', 'ROLE', 'MAX APPS', 'MAX INSTANCES'],
          rows.map((o) => [o.name, o.role, String(o.quota.apps ?? '-'), String(o.quota.instances ?? '-')]),
        ),
      );
    });
  org
    .command('quota')
    .description('set an organisation\'s quotas (host only); "none" lifts one')
    .argument('<org>')
    .option('--apps <n>')
    .option('--instances <n>')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { apps?: string; instances?: string }) => {
      const n = (v: string | undefined, what: string) =>
        v === undefined
          ? undefined
          : v === 'none'
            ? null
            : /^\d+$/.test(v)
              ? Number(v)
              : (() => {
                  throw new ApiError(0, 'invalid', `--${what} expects a whole number or "none", got "${v}"`);
                })();
      const r = await io.call<{ org: string; quota: unknown }>('PUT', `/v1/orgs/${encodeURIComponent(name)}/quota`, {
        ...(opts.apps !== undefined ? { apps: n(opts.apps, 'apps') } : {}),
        ...(opts.instances !== undefined ? { instances: n(opts.instances, 'instances') } : {}),
      });
      io.print(r, () => `${r.org}: ${JSON.stringify(r.quota)}`);
    });
  org
    .command('members')
    .argument('<org>')
    .option('--json', 'print JSON')
    .action(async (name: string) => {
      const rows = await io.call<Array<{ user: string; role: string; since: number }>>(
        'GET',
        `/v1/orgs/${encodeURIComponent(name)}/members`,
      );
      io.print(rows, () =>
        table(
          ['USER', 'ROLE', 'SINCE'],
          rows.map((m) => [m.user, m.role, when(m.since)]),
        ),
      );
    });
  org
    .command('role')
    .description('set a member\'s role (up to your own), or remove them with "none"')
    .argument('<org>')
    .argument('<user>')
    .argument('<role>', 'owner, admin, member, viewer or none')
    .option('--json', 'print JSON')
    .action(async (name: string, user: string, role: string) => {
      const r =
        role === 'none'
          ? await io.call('DELETE', `/v1/orgs/${encodeURIComponent(name)}/members/${encodeURIComponent(user)}`)
          : await io.call('PUT', `/v1/orgs/${encodeURIComponent(name)}/members/${encodeURIComponent(user)}`, { role });
      io.print(r, () =>
        role === 'none' ? `${user} is no longer a member of ${name}` : `${user} is ${role} of ${name}`,
      );
    });
  org
    .command('invite')
    .description('a single-use invite into the organisation, for a role up to your own')
    .argument('<org>')
    .requiredOption('--role <role>', 'owner, admin, member or viewer')
    .option('--expires <duration>', 'e.g. 24h; default 7d, at most 30d')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { role: string; expires?: string }) => {
      const r = await io.call<{ invite: string; role: string; expiresAt: number }>(
        'POST',
        `/v1/orgs/${encodeURIComponent(name)}/invites`,
        { role: opts.role, ...(opts.expires ? { expires: opts.expires } : {}) },
      );
      io.print(r, () => `invite for ${r.role} of ${name}, valid until ${when(r.expiresAt)} (shown once):\n${r.invite}`);
    });
  org
    .command('audit')
    .description('who did what in an organisation (admins)')
    .argument('<org>')
    .option('--json', 'print JSON')
    .action(async (name: string) => {
      const rows = await io.call<Array<{ at: number; actor: string; action: string; target: string; outcome: string }>>(
        'GET',
        `/v1/orgs/${encodeURIComponent(name)}/audit`,
      );
      io.print(rows, () =>
        table(
          ['AT', 'ACTOR', 'ACTION', 'TARGET', 'OUTCOME'],
          rows.map((a) => [when(a.at), a.actor, a.action, a.target, a.outcome]),
        ),
      );
    });
  program
    .command('accept-invite')
    .description('accept an organisation invite: signed in, or as a new user (--name, password on stdin)')
    .argument('<invite>')
    .option('--name <name>', 'a new user name')
    .option('--password-stdin', "read the new user's password from standard input")
    .option('--json', 'print JSON')
    .action(async (invite: string, opts: { name?: string; passwordStdin?: boolean }) => {
      const body = opts.name
        ? { invite, name: opts.name, password: await readPassword(opts.passwordStdin) }
        : { invite };
      const r = await io.call<{ org: string; role: string; user: string }>('POST', '/v1/invites/accept', body);
      io.print(r, () => `${r.user} is ${r.role} of ${r.org}`);
    });

  registerSecretCommands(program, io);
  registerDbCommands(program, io);

  const token = program.command('token').description('API tokens: shown once, stored hashed, expiring, scoped');
  token
    .command('create')
    .argument('<name>')
    .option('--org <org>', 'only this organisation')
    .option('--role <role>', 'at most this role')
    .option('--expires <duration>', 'e.g. 30d; default 90d, at most 365d')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { org?: string; role?: string; expires?: string }) => {
      const r = await io.call<{ id: number; token: string; expiresAt: number }>('POST', '/v1/tokens', {
        name,
        ...(opts.org ? { org: opts.org } : {}),
        ...(opts.role ? { role: opts.role } : {}),
        ...(opts.expires ? { expires: opts.expires } : {}),
      });
      io.print(r, () => `token ${r.id} (${name}), valid until ${when(r.expiresAt)}; shown once:\n${r.token}`);
    });
  token
    .command('ls')
    .option('--json', 'print JSON')
    .action(async () => {
      const rows = await io.call<
        Array<{ id: number; name: string; role: string | null; expiresAt: number; lastUsedAt: number | null }>
      >('GET', '/v1/tokens');
      io.print(rows, () =>
        table(
          ['ID', 'NAME', 'ROLE CEILING', 'EXPIRES', 'LAST USED'],
          rows.map((t) => [String(t.id), t.name, t.role ?? '-', when(t.expiresAt), when(t.lastUsedAt)]),
        ),
      );
    });
  token
    .command('rm')
    .argument('<id>')
    .option('--json', 'print JSON')
    .action(async (id: string) => {
      const r = await io.call('DELETE', `/v1/tokens/${encodeURIComponent(id)}`);
      io.print(r, () => `token ${id} revoked`);
    });
}
