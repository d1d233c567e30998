import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import type { RemoteTarget } from '../api/client.js';
import { writeFileAtomic } from '../system/atomic-write.js';

/** Where `berth login` keeps the URL and token: $XDG_CONFIG_HOME/berth/credentials.json (mode 0600). */
export function credentialsFile(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.XDG_CONFIG_HOME || path.join(env.HOME || homedir(), '.config'), 'berth', 'credentials.json');
}

export interface StoredCredentials extends RemoteTarget {
  readonly user: string;
  readonly expiresAt: number;
}

/** A remote berthd to talk to: BERTH_URL (+ BERTH_TOKEN), else what `berth login` stored; undefined means the local socket. */
export function remoteTarget(env: NodeJS.ProcessEnv = process.env): RemoteTarget | undefined {
  if (env.BERTH_URL) return { url: env.BERTH_URL, token: env.BERTH_TOKEN };
  try {
    const c = JSON.parse(readFileSync(credentialsFile(env), 'utf8')) as StoredCredentials;
    return { url: c.url, token: env.BERTH_TOKEN ?? c.token };
  } catch {
    return undefined;
  }
}

export function saveCredentials(c: StoredCredentials, env: NodeJS.ProcessEnv = process.env): string {
  const file = credentialsFile(env);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  writeFileAtomic(file, JSON.stringify(c, null, 2) + '\n', 0o600);
  return file;
}

export function removeCredentials(env: NodeJS.ProcessEnv = process.env): boolean {
  const file = credentialsFile(env);
  try {
    readFileSync(file);
  } catch {
    return false;
  }
  rmSync(file, { force: true });
  return true;
}
