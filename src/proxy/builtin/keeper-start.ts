import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, openSync, renameSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { BerthError } from '../../core/errors.js';
import { tailLines } from '../../runtime/log-files.js';
import { procStat } from '../../system/proc.js';
import type { proxyPaths } from './paths.js';

export const KEEPER = fileURLToPath(new URL('./keeper.js', import.meta.url));

/** What a new keeper needs: where and how the proxy listens, its files, and which worker its pid file names now. */
export interface KeeperStart {
  readonly home: string;
  readonly port: number;
  readonly address: string;
  readonly log: Logger;
  readonly upstreamTimeoutMs?: number | undefined;
  readonly paths: ReturnType<typeof proxyPaths>;
  readonly worker: () => { readonly pid: number } | undefined;
}

/**
 * Starts the builtin proxy from berthd: binds its listening sockets here (a port in use is reported at once), hands
 * them to a new keeper (keeper.ts, a detached process of its own that runs the proxy and restarts it at once when it
 * dies, on the same sockets), and waits until the keeper's worker has written its pid file.
 */
export async function startKeeper(o: KeeperStart): Promise<void> {
  mkdirSync(o.paths.dir, { recursive: true, mode: 0o700 });
  const [http, control] = await bind(o);
  const out = openSync(o.paths.log, 'a', 0o600);
  const env = {
    PATH: process.env.PATH ?? '',
    BERTH_HOME: o.home,
    BERTH_HTTP_PORT: String(o.port),
    BERTH_HTTP_ADDRESS: o.address,
    BERTH_UPSTREAM_TIMEOUT_MS: String(o.upstreamTimeoutMs ?? 60_000),
  };
  let child: ChildProcess;
  try {
    // The sockets become the keeper's fds 3 and 4; berthd's copies close right after, before its event loop could accept on them.
    child = spawn(process.execPath, [KEEPER], {
      detached: true,
      stdio: ['ignore', out, out, fdOf(http), fdOf(control)],
      env,
      shell: false,
    });
    renameSync(o.paths.controlBinding, o.paths.control);
  } finally {
    closeSync(out);
    http.close();
    control.close(); // unlinks controlBinding, which is gone now
  }
  child.unref();
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    const worker = o.worker();
    if (worker && procStat(worker.pid)?.ppid === child.pid) {
      o.log.info({ pid: worker.pid, keeper: child.pid, port: o.port }, 'proxy started');
      return;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new BerthError(
    'failed',
    'proxy_start_failed',
    `the builtin proxy did not start on port ${o.port}: ${tailLines(o.paths.log, 3).join(' | ')}`,
    {
      hint: 'is another program using that port? set http_port in config.yaml or BERTH_HTTP_PORT',
    },
  );
}

/** The proxy's listening sockets, bound here so a port in use is reported at once: public HTTP and the control socket. */
async function bind(o: KeeperStart): Promise<[Server, Server]> {
  const listen = (s: Server, args: { port: number; host: string } | { path: string }) =>
    new Promise<Server>((resolve, reject) => {
      s.once('error', reject);
      s.listen(args, () => resolve(s));
    });
  const http = await listen(createServer(), { port: o.port, host: o.address }).catch((err: Error) => {
    throw new BerthError(
      'failed',
      'proxy_start_failed',
      `the builtin proxy cannot listen on ${o.address}:${o.port}: ${err.message}`,
      { hint: 'is another program using that port? set http_port in config.yaml or BERTH_HTTP_PORT' },
    );
  });
  try {
    // Bound under a name of its own and renamed into place once handed over (see startKeeper): closing a bound unix socket unlinks its path.
    rmSync(o.paths.controlBinding, { force: true });
    const control = await listen(createServer(), { path: o.paths.controlBinding });
    chmodSync(o.paths.controlBinding, 0o600);
    return [http, control];
  } catch (err) {
    http.close();
    throw err;
  }
}

/**
 * The fd of a listening socket, for spawn's stdio (which duplicates it into the child at that
 * index). net.Server does not expose it: this is its libuv handle's fd, set on Unix.
 */
function fdOf(server: Server): number {
  const fd = (server as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('node:net gave no fd for a listening socket');
  return fd;
}
