import { connect } from 'node:net';
import { request } from 'node:http';
import type { ProbeSpec } from '../config/manifest-types.js';
import { listeningInodes } from '../runtime/listen-table.js';
import { procSocketInodes } from '../system/proc.js';

/** What a probe needs to know about the instance it checks. */
export interface ProbeTarget {
  readonly port: number | null;
  /** The process Berth started; checked first, as it is usually the one that listens. */
  readonly leader: number;
  /** Every live pid of the instance (leader, children): the slower, complete answer (a scan of /proc). */
  readonly pids: () => readonly number[];
  /** Whether the leader we started is still alive: one read of its /proc/<pid>/stat. */
  readonly leaderAlive: () => boolean;
  /**
   * While starting, `listening` also proves that the instance's own process holds the port
   * (not a stray that happens to listen there). Once that held, a connect is enough: the
   * instance's exit is an event of its own, so a healthy instance is never probed by scanning /proc.
   */
  readonly verifyOwner: boolean;
}

export type ProbeResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

const TIMEOUT_MS = 2000;

/** Runs one probe. Never throws: a failure is a result with the reason. */
export async function probe(spec: ProbeSpec, target: ProbeTarget): Promise<ProbeResult> {
  if (spec.kind === 'process')
    return target.leaderAlive() || target.pids().length > 0 ? { ok: true } : { ok: false, reason: 'no process' };
  if (target.port === null) return { ok: false, reason: 'no port' };
  if (spec.kind === 'listening') {
    // A refused connection answers "not yet" in microseconds; /proc/net/tcp is read only once something listens.
    const reachable = (await tcpProbe(target.port, '127.0.0.1')).ok || (await tcpProbe(target.port, '::1')).ok;
    if (!reachable) return { ok: false, reason: `nothing listens on port ${target.port}` };
    return target.verifyOwner ? listeningProbe(target.port, target) : { ok: true };
  }
  if (spec.kind === 'http') return httpProbe(target.port, spec.path, spec.status);
  // 'tcp'; a database's own protocol is spoken by engine/databases (see health/database-probes.ts), a connect here
  return tcpProbe(target.port);
}

/**
 * Ready only when one of the instance's own processes holds a listening socket on its port (its fds in /proc). The
 * listening sockets come from the launcher's sock_diag dump (runtime/listen-table.ts), not a read of /proc/net/tcp and
 * tcp6, which walks the kernel's whole socket table: milliseconds on the way of every deploy's wave (issue 14).
 */
async function listeningProbe(port: number, target: ProbeTarget): Promise<ProbeResult> {
  const inodes = await listeningInodes(port);
  const leaderHeld = procSocketInodes(target.leader);
  if (inodes.length === 0) return { ok: false, reason: `nothing listens on port ${port}` };
  if (inodes.some((i) => leaderHeld.has(i))) return { ok: true };
  for (const pid of target.pids()) {
    const held = procSocketInodes(pid);
    if (inodes.some((i) => held.has(i))) return { ok: true };
  }
  return { ok: false, reason: `port ${port} is held by a process that is not this instance` };
}

function tcpProbe(port: number, host = '127.0.0.1'): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: TIMEOUT_MS });
    socket.once('connect', () => {
      socket.destroy();
      resolve({ ok: true });
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve({ ok: false, reason: `tcp connect to ${port} timed out` });
    });
    socket.once('error', (err) =>
      resolve({ ok: false, reason: `tcp connect to ${port}: ${(err as NodeJS.ErrnoException).code ?? err.message}` }),
    );
  });
}

function httpProbe(port: number, path: string, status: number | undefined): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'GET',
        timeout: TIMEOUT_MS,
        headers: { 'user-agent': 'berth-health' },
        agent: false,
      },
      (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        const ok = status === undefined ? code >= 200 && code < 300 : code === status;
        resolve(ok ? { ok: true } : { ok: false, reason: `GET ${path} answered ${code}, expected ${status ?? '2xx'}` });
      },
    );
    req.once('timeout', () => {
      req.destroy();
      resolve({ ok: false, reason: `GET ${path} timed out after ${TIMEOUT_MS} ms` });
    });
    req.once('error', (err) =>
      resolve({ ok: false, reason: `GET ${path}: ${(err as NodeJS.ErrnoException).code ?? err.message}` }),
    );
    req.end();
  });
}

/**
 * A container's probe: `listening` and `tcp` connect to the container's own address on its network
 * (the engine's proxy accepts on the published port whether or not the container listens, so only
 * this proves it does); `http` goes through the published port, as requests do.
 */
export async function containerProbe(
  spec: ProbeSpec,
  target: { port: number | null; address: string | undefined; containerPort: number | null; alive: () => boolean },
): Promise<ProbeResult> {
  if (!target.alive()) return { ok: false, reason: 'the container is not running' };
  if (spec.kind === 'process') return { ok: true };
  if (target.port === null || target.containerPort === null) return { ok: false, reason: 'no port' };
  if (spec.kind === 'http') return httpProbe(target.port, spec.path, spec.status);
  if (!target.address) return { ok: false, reason: 'the container has no address on its network' };
  const r = await tcpProbe(target.containerPort, target.address);
  return r.ok ? r : { ok: false, reason: `nothing listens on port ${target.containerPort} in the container` };
}
