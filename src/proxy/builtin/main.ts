/**
 * The builtin proxy process: the data plane. Started and watched by berthd, but not
 * dependent on it: it serves its last route table (kept in memory and in an atomically
 * written file it reloads at start) whether berthd runs or not. berthd changes the table
 * over a control socket: PUT /v1/routes with the whole table.
 */
import { chmodSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { createServer } from 'node:http';
import { writeFileAtomic } from '../../system/atomic-write.js';
import { procStat } from '../../system/proc.js';
import { EMPTY_TABLE, parseTable, type RouteTable } from '../route-table.js';
import { DataPlane } from './data-plane.js';
import { ServiceListeners } from './service-listeners.js';
import { INHERITED_FDS, proxyPaths } from './paths.js';

const home = process.env.BERTH_HOME;
const port = Number(process.env.BERTH_HTTP_PORT);
const address = process.env.BERTH_HTTP_ADDRESS || '0.0.0.0';
const upstreamTimeoutMs = Number(process.env.BERTH_UPSTREAM_TIMEOUT_MS || 60_000);
if (
  !home ||
  !Number.isInteger(port) ||
  port < 1 ||
  port > 65535 ||
  !Number.isInteger(upstreamTimeoutMs) ||
  upstreamTimeoutMs < 1
) {
  console.error(
    'berth-proxy: needs BERTH_HOME and BERTH_HTTP_PORT (and BERTH_UPSTREAM_TIMEOUT_MS, when set, in whole milliseconds)',
  );
  process.exit(2);
}
const paths = proxyPaths(home);
mkdirSync(paths.dir, { recursive: true, mode: 0o700 });

function loadTable(): RouteTable {
  try {
    return parseTable(JSON.parse(readFileSync(paths.table, 'utf8')));
  } catch {
    return EMPTY_TABLE;
  }
}

const plane = new DataPlane({ upstreamTimeoutMs });
plane.swap(loadTable());
const listeners = new ServiceListeners();
const listen = (table: RouteTable) =>
  listeners.apply(table.listeners ?? []).then((problems) => {
    for (const p of problems) console.error(`berth-proxy: ${p}`);
    return problems;
  });
void listen(plane.table);

const control = createServer((req, res) => {
  const reply = (status: number, body: unknown) =>
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  if (req.method === 'GET' && req.url === '/v1/health')
    return reply(200, {
      pid: process.pid,
      port,
      address,
      version: plane.table.version,
      routes: plane.table.routes.length,
      handedOver: plane.handedOver,
    });
  if (req.method === 'GET' && req.url === '/v1/routes') return reply(200, plane.table);
  if (req.method === 'GET' && req.url === '/v1/stats') return reply(200, plane.stats.snapshot());
  if (req.method === 'GET' && req.url === '/v1/inflight') return reply(200, Object.fromEntries(plane.inflight));
  if (req.method === 'PUT' && req.url === '/v1/routes') {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let table: RouteTable;
      try {
        table = parseTable(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (err) {
        return reply(400, { error: { code: 'invalid_table', message: (err as Error).message } });
      }
      try {
        writeFileAtomic(paths.table, JSON.stringify(table), 0o600); // persisted before it serves
      } catch (err) {
        return reply(500, {
          error: {
            code: 'persist_failed',
            message: `cannot write ${paths.table}: ${(err as Error).message}; still serving version ${plane.table.version}`,
          },
        });
      }
      plane.swap(table);
      void listen(table).then((problems) =>
        problems.length === 0
          ? reply(200, { version: table.version })
          : reply(500, { error: { code: 'listen_failed', message: problems.join('; ') } }),
      );
    });
    return;
  }
  reply(404, { error: { code: 'not_found', message: `${req.method} ${req.url}` } });
});

plane.server.on('error', (err) => {
  console.error(`berth-proxy: cannot listen on ${address}:${port}: ${err.message}`);
  process.exit(1);
});

function ready(): void {
  writeFileAtomic(paths.pid, `${process.pid} ${procStat(process.pid)?.startTicks ?? ''} ${port}\n`, 0o600);
  console.log(
    JSON.stringify({
      msg: 'berth-proxy ready',
      pid: process.pid,
      address,
      port,
      routes: plane.table.routes.length,
      version: plane.table.version,
      kept: inherited,
    }),
  );
}

// Kept by keeper.ts: the listening sockets are inherited, already bound; else (tests, benchmarks) bound here.
const inherited = process.env.BERTH_PROXY_FDS === INHERITED_FDS;
if (inherited) {
  const [httpFd, controlFd] = INHERITED_FDS.split(',').map(Number) as [number, number];
  plane.server.listen({ fd: httpFd }, () => control.listen({ fd: controlFd }, ready));
} else
  plane.server.listen(port, address, () => {
    try {
      unlinkSync(paths.control);
    } catch {
      // none
    }
    control.listen(paths.control, () => {
      chmodSync(paths.control, 0o600);
      ready();
    });
  });

const shutdown = () => {
  control.close();
  listeners.close();
  plane.close();
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
