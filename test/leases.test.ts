import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BerthError } from '../src/core/errors.js';
import { PortAllocator } from '../src/engine/port-allocator.js';
import { Store } from '../src/store/store.js';
import { postgresSkip, TestPostgres } from './helpers/test-postgres.js';

const LEASES_PG_PORT = 31498;

const dir = mkdtempSync(path.join(tmpdir(), 'berth-leases-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const WORKER = fileURLToPath(new URL('./helpers/lease-worker.js', import.meta.url));

function runWorker(db: string, name: string, count: number, range: string, url?: string): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const env = url ? { ...process.env, BERTH_STORE_URL: url } : process.env;
    const argv = [WORKER, url ? 'env' : db, name, String(count), range];
    execFile(process.execPath, argv, { timeout: 60_000, env }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${name}: ${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout) as number[]);
    });
  });
}

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

async function withInstance(store: Store, name: string) {
  return store.write(async (r) => {
    const now = Date.now();
    const appId = await r.apps.upsert(name, `/tmp/${name}`, `/tmp/${name}/berth.yaml`, now, 1);
    const envId = (await r.apps.environmentId(appId, 'production', now)).id;
    const releaseId = await r.releases.create({
      environmentId: envId,
      number: 1,
      dir: `/tmp/${name}/r1`,
      manifest: '{}',
      source: '{}',
      createdAt: now,
    });
    return r.instances.create(
      { environmentId: envId, releaseId, service: 'web', idx: 0, spec: '{}', rootDir: `/tmp/${name}/r1` },
      now,
    );
  });
}

test('200 leases from 4 processes sharing one store at once: zero duplicates', async () => {
  const db = path.join(dir, 'shared.db');
  await (await Store.openSqlite(db)).close(); // migrate once up front
  const results = await Promise.all([0, 1, 2, 3].map((i) => runWorker(db, `w${i}`, 50, '31000-31999')));
  const all = results.flat();
  assert.equal(all.length, 200);
  assert.equal(new Set(all).size, 200, 'a port was leased twice');
  const store = await Store.openSqlite(db);
  assert.equal((await store.leases.all()).length, 200);
  await store.close();
});

test(
  '200 leases from 4 processes sharing one PostgreSQL store at once: zero duplicates',
  { skip: postgresSkip },
  async () => {
    const postgres = new TestPostgres(LEASES_PG_PORT, 'berth-pgs-leases');
    try {
      await postgres.start();
      const url = await postgres.database();
      await (await Store.open({ kind: 'postgres', url })).close(); // migrate once up front
      const results = await Promise.all([0, 1, 2, 3].map((i) => runWorker('', `w${i}`, 50, '31000-31999', url)));
      const all = results.flat();
      assert.equal(all.length, 200);
      assert.equal(new Set(all).size, 200, 'a port was leased twice');
      const store = await Store.open({ kind: 'postgres', url });
      assert.equal((await store.leases.all()).length, 200);
      await store.close();
    } finally {
      await postgres.stop();
    }
  },
);

test('a port where a foreign process listens is never handed out', async () => {
  const store = await Store.openSqlite(path.join(dir, 'foreign.db'));
  const foreign = await listen(32100);
  try {
    const ports = new PortAllocator('local', { low: 32100, high: 32102 });
    const id = await withInstance(store, 'shop');
    const port = await store.write((r) => ports.leaseAuto(r, id, Date.now()));
    assert.equal(port, 32101);
  } finally {
    foreign.close();
    await store.close();
  }
});

test('a full range fails with a clear error and writes nothing', async () => {
  const store = await Store.openSqlite(path.join(dir, 'full.db'));
  const foreign = await listen(32200);
  try {
    const ports = new PortAllocator('local', { low: 32200, high: 32201 });
    const a = await withInstance(store, 'a');
    await store.write((r) => ports.leaseAuto(r, a, Date.now()));
    const b = await withInstance(store, 'b');
    await assert.rejects(
      store.write((r) => ports.leaseAuto(r, b, Date.now())),
      (e: unknown) =>
        e instanceof BerthError &&
        e.code === 'port_range_full' &&
        e.message === 'no free port in 32200-32201: 1 leased by Berth, 1 in use by other processes' &&
        /port_range/.test(e.hint ?? ''),
    );
    assert.equal((await store.leases.all()).length, 1);
  } finally {
    foreign.close();
    await store.close();
  }
});

test('a pinned port held by a foreign process fails naming its pid, user and command to the host admin only', async () => {
  const store = await Store.openSqlite(path.join(dir, 'pinned.db'));
  const foreign = await listen(32300);
  try {
    const ports = new PortAllocator('local', { low: 32300, high: 32310 });
    const id = await withInstance(store, 'shop');
    await assert.rejects(
      store.write((r) => ports.leasePinned(r, id, 32300, Date.now(), 1)),
      (e: unknown) =>
        e instanceof BerthError &&
        e.code === 'port_taken' &&
        e.message === 'cannot use pinned port 32300: in use by something outside your organisation' &&
        (e.hostDetail ?? '').includes(`pid ${process.pid} (user ${userInfo().username})`) &&
        (e.hostDetail ?? '').includes(process.argv[1] as string),
    );
    assert.equal((await store.leases.all()).length, 0);
  } finally {
    foreign.close();
    await store.close();
  }
});
