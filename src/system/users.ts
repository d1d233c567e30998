import { readFileSync } from 'node:fs';
import { BerthError } from '../core/errors.js';
import { runCommand } from './command.js';

export interface UnixIds {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

/** A user from /etc/passwd, or undefined. */
export function findUser(name: string): UnixIds | undefined {
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f.length >= 4) return { name, uid: Number(f[2]), gid: Number(f[3]) };
  }
  return undefined;
}

/** A system user with its own group, no home and no login shell (useradd, argv only). Idempotent. */
export async function ensureSystemUser(name: string): Promise<UnixIds> {
  const existing = findUser(name);
  if (existing) return existing;
  const useradd = [
    'useradd',
    '--system',
    '--user-group',
    '--no-create-home',
    '--home-dir',
    '/nonexistent',
    '--shell',
    '/usr/sbin/nologin',
    name,
  ];
  let r = await runCommand(useradd);
  // useradd locks /etc/passwd: several apps made at once wait for each other.
  for (let i = 0; i < 20 && r.code !== 0 && !findUser(name) && /lock/i.test(r.stderr); i++) {
    await new Promise((res) => setTimeout(res, 50 + Math.random() * 100 * (i + 1)));
    r = await runCommand(useradd);
  }
  const made = findUser(name);
  if (!made)
    throw new BerthError(
      'failed',
      'useradd_failed',
      `creating system user ${name} failed: ${r.stderr.trim() || `useradd exited ${r.code}`}`,
      {
        hint: 'berthd creates one user per app when it runs as root; set app_users: false in config.yaml to run apps as root instead',
      },
    );
  return made;
}

export async function deleteSystemUser(name: string): Promise<void> {
  if (!findUser(name)) return;
  let r = await runCommand(['userdel', name]);
  for (let i = 0; i < 20 && r.code !== 0 && findUser(name) && /lock/i.test(r.stderr); i++) {
    await new Promise((res) => setTimeout(res, 50 + Math.random() * 100 * (i + 1)));
    r = await runCommand(['userdel', name]);
  }
  if (r.code !== 0 && findUser(name))
    throw new BerthError('failed', 'userdel_failed', `removing system user ${name} failed: ${r.stderr.trim()}`);
}
