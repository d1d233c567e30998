import { spawn } from 'node:child_process';
import { mkdirSync, openSync, closeSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiClient, ApiError } from '../api/client.js';
import type { HomeLayout } from '../system/paths.js';
import { tailLines } from '../runtime/log-files.js';

/** berthd as bundled by `npm run build` (scripts/bundle.mjs): one file to load instead of ~800 modules. */
export const DAEMON_MAIN = fileURLToPath(new URL('../../bundle/berthd.js', import.meta.url));

/**
 * berthd waits on sockets and timers; it does not need V8's optimizing compilers or a
 * 16 MiB young generation. These flags take its idle RSS from ~120 MiB to ~75 MiB with
 * 100 instances (bench/core). `gc` lets it collect once it is quiet (src/daemon/idle-gc.ts: ~10 MiB less).
 * Override with BERTH_DAEMON_NODE_FLAGS.
 */
export const DAEMON_NODE_FLAGS = '--lite-mode --max-semi-space-size=1 --expose-gc';

export interface DaemonInfo {
  readonly pid: number;
  readonly home: string;
  readonly version: string;
  readonly uptimeMs: number;
  /** With a shared (PostgreSQL) store: whether this berthd leads or follows (daemon/leadership.ts). */
  readonly leadership?: 'leader' | 'follower';
}

/** The daemon's info, or undefined when it is not running. */
export async function daemonInfo(client: ApiClient): Promise<DaemonInfo | undefined> {
  try {
    return await client.call<DaemonInfo>('GET', '/v1/daemon');
  } catch (err) {
    if (err instanceof ApiError && (err.code === 'unreachable' || err.code === 'connection_lost')) return undefined;
    throw err;
  }
}

/**
 * Starts berthd in the background (detached, output to berthd.log) and waits until it answers: 15 s, or
 * BERTH_DAEMON_START_TIMEOUT_MS (the crash tests: a recovery on a loaded machine can take longer).
 */
export async function startDaemon(
  layout: HomeLayout,
  client: ApiClient,
  timeoutMs = Number(process.env.BERTH_DAEMON_START_TIMEOUT_MS) || 15_000,
): Promise<DaemonInfo> {
  mkdirSync(layout.root, { recursive: true, mode: 0o700 });
  const out = openSync(layout.daemonLog, 'a', 0o600);
  const flags = (process.env.BERTH_DAEMON_NODE_FLAGS ?? DAEMON_NODE_FLAGS).split(' ').filter(Boolean);
  const env: NodeJS.ProcessEnv = { ...process.env, BERTH_HOME: layout.root };
  if (env.BERTH_EXTRA_CA_CERTS) env.NODE_EXTRA_CA_CERTS = env.BERTH_EXTRA_CA_CERTS; // see bin/berth.js
  delete env.BERTH_EXTRA_CA_CERTS;
  const child = spawn(process.execPath, [...flags, DAEMON_MAIN], {
    detached: true,
    stdio: ['ignore', out, out],
    env,
    shell: false,
  });
  closeSync(out);
  child.unref();
  const deadline = Date.now() + timeoutMs;
  const socketAppears = socketWatch(layout.socket);
  try {
    while (Date.now() < deadline) {
      const info = await daemonInfo(client);
      if (info) return info;
      await socketAppears.next(socketAppears.watching ? 250 : 50);
    }
  } finally {
    socketAppears.close();
  }
  throw new ApiError(
    0,
    'daemon_start_failed',
    `berthd did not start within ${timeoutMs / 1000} s; last lines of ${layout.daemonLog}:\n${tailLines(layout.daemonLog, 10).join('\n')}`,
  );
}

/**
 * berthd creates its socket when it serves (listen, once the proxy serves its routes): watching the directory for it
 * (inotify) tells the CLI at once, where a poll every 50 ms lost 25 ms on average of every start (issue 14). A slow
 * poll stays, should the event be missed; where the directory cannot be watched, the poll is every 50 ms.
 */
function socketWatch(socket: string): { readonly watching: boolean; next(ms: number): Promise<void>; close(): void } {
  let wake = () => {};
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(path.dirname(socket), (_event, name) => {
      if (name === path.basename(socket)) wake();
    });
    watcher.on('error', () => undefined);
  } catch {
    // no inotify here (or none left): polled alone
  }
  return {
    watching: watcher !== undefined,
    next: (ms) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      }),
    close: () => watcher?.close(),
  };
}

/** Returns a client to a running daemon, starting one if needed. */
export async function ensureDaemon(layout: HomeLayout, client: ApiClient): Promise<DaemonInfo> {
  return (await daemonInfo(client)) ?? startDaemon(layout, client);
}
