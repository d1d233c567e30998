import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { hit } from './http.js';
import { ProxyProcess } from './proxy-process.js';

/** An upstream that writes exactly what `answer` returns for each request it reads (or closes, for null). */
export interface RawUpstream {
  readonly port: number;
  connections: number;
  requests: string[];
  close(): Promise<void>;
}

export async function rawUpstream(
  answer: (head: string, nth: number, socket: Socket) => string | Buffer | null | undefined,
  opts: { early?: boolean } = {},
): Promise<RawUpstream> {
  const sockets = new Set<Socket>();
  const u = {
    port: 0,
    connections: 0,
    requests: [] as string[],
    close: () => new Promise<void>((r) => (sockets.forEach((s) => s.destroy()), server.close(() => r()))),
  };
  const server: Server = createServer((socket) => {
    u.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    let nth = 0;
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.toString('latin1', 0, end);
        const length = opts.early ? 0 : Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        buf = buf.subarray(end + 4 + length);
        u.requests.push(head);
        const reply = answer(head, nth++, socket);
        if (reply === null) socket.destroy();
        else if (reply !== undefined) socket.write(reply);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  u.port = (server.address() as { port: number }).port;
  return u;
}

/**
 * A builtin proxy process of this test file's own on `port` (upstream_timeout 1 s), started before
 * the file's tests and ended after them; `via` routes a host to an upstream and sends one request.
 */
export function upstreamProxy(port: number) {
  const root = mkdtempSync(path.join(tmpdir(), 'berth-proxy-upstream-'));
  const proxy = new ProxyProcess(path.join(root, 'home'), port, { BERTH_UPSTREAM_TIMEOUT_MS: '1000' });
  const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
  before(() => proxy.start());
  after(async () => {
    keepAlive.destroy();
    await proxy.kill();
    rmSync(root, { recursive: true, force: true });
  });
  const via = async (upstream: RawUpstream, host: string, reqPath = '/', opts: Parameters<typeof hit>[3] = {}) => {
    await proxy.routes([{ host, upstreams: [`127.0.0.1:${upstream.port}`] }]);
    return hit(port, host, reqPath, { agent: keepAlive, ...opts });
  };
  return { proxy, keepAlive, via };
}
