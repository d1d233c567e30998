/**
 * The builtin proxy's keeper: a tiny parent process that owns the proxy's listening sockets
 * and runs the proxy (main.ts, "the worker") as its child, starting a new one at once when it
 * dies. berthd binds the sockets (so a taken port is its error to report), starts the keeper
 * in a session of its own with them as fds 3 (HTTP) and 4 (control socket), and closes its
 * own copies. The keeper never wraps them in a handle of its own, so it never accepts a
 * connection; each worker inherits them at the same numbers. While no worker runs (killed
 * with SIGKILL, crashed), the kernel keeps queueing new connections in the listen backlog
 * and the next worker accepts them: a crash costs the requests in flight, never a refused
 * connection.
 *
 * Why a parent of its own rather than berthd holding the sockets: berthd is restarted
 * (upgrades, crashes, SIGKILL in the tests) while the proxy serves on; sockets held by berthd
 * would close with it, and a berthd kill followed by a proxy kill would refuse connections
 * until both came back. The keeper does nothing but wait for its child: no input from the
 * network, no parsing, no timers while the worker runs, so it has no reason to crash. If it
 * is killed anyway, the worker serves on unkept; when that worker ends too, berthd's watcher
 * binds new sockets and starts a new keeper (the old behaviour: refused connections until then).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../../system/atomic-write.js';
import { procStat } from '../../system/proc.js';
import { INHERITED_FDS, proxyPaths } from './paths.js';

const WORKER = fileURLToPath(new URL('./main.js', import.meta.url));
/** A worker that lived this long before it died is restarted at once; quicker deaths back off. */
const HEALTHY_MS = 1000;
const MAX_BACKOFF_MS = 2000;

const home = process.env.BERTH_HOME;
const port = process.env.BERTH_HTTP_PORT;
if (!home || !port) {
  console.error('berth-proxy keeper: needs BERTH_HOME and BERTH_HTTP_PORT, and the listening sockets as fds 3 and 4');
  process.exit(2);
}
const paths = proxyPaths(home);
mkdirSync(paths.dir, { recursive: true, mode: 0o700 });

let worker: ChildProcess | undefined;
let stopping = false;
let quickDeaths = 0;

function startWorker(): void {
  const started = Date.now();
  const child = spawn(process.execPath, [WORKER], {
    stdio: ['ignore', 'inherit', 'inherit', 3, 4],
    env: { ...process.env, BERTH_PROXY_FDS: INHERITED_FDS },
    shell: false,
  });
  worker = child;
  child.on('error', (err) => console.error(`berth-proxy keeper: cannot start the proxy: ${err.message}`));
  child.on('exit', (code, signal) => {
    worker = undefined;
    if (stopping) process.exit(0);
    const lived = Date.now() - started;
    quickDeaths = lived >= HEALTHY_MS ? 0 : quickDeaths + 1;
    // At once, unless it keeps dying young (a broken install): then 50 ms, 100 ms, ... up to 2 s apart.
    const backoff = quickDeaths <= 1 ? 0 : Math.min(MAX_BACKOFF_MS, 50 * 2 ** (quickDeaths - 2));
    console.error(
      JSON.stringify({
        msg: 'berth-proxy keeper: the proxy ended; starting a new one',
        pid: child.pid,
        ...(signal ? { signal } : { code }),
        livedMs: lived,
        inMs: backoff,
      }),
    );
    if (backoff === 0) startWorker();
    else setTimeout(startWorker, backoff);
  });
}

const stop = () => {
  stopping = true;
  if (!worker) process.exit(0);
  worker.kill('SIGTERM');
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

writeFileAtomic(paths.keeperPid, `${process.pid} ${procStat(process.pid)?.startTicks ?? ''} ${port}\n`, 0o600);
startWorker();
