/**
 * The store's suite, run against both of its databases: SQLite (the file in BERTH_HOME) and a real
 * PostgreSQL 15 (the `store:` host setting). Same migrations, same repositories, same answers.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isUniqueViolation } from '../src/store/open.js';
import { Store, type Repos } from '../src/store/store.js';
import type { StoreLocation } from '../src/store/store-url.js';
import { postgresSkip, TestPostgres } from './helpers/test-postgres.js';

const STORE_PG_PORT = 31497;
const dir = mkdtempSync(path.join(tmpdir(), 'berth-store-'));
const postgres = new TestPostgres(STORE_PG_PORT, 'berth-pgs-store');
before(async () => {
  if (!postgresSkip) await postgres.start();
});
after(async () => {
  if (!postgresSkip) await postgres.stop();
  rmSync(dir, { recursive: true, force: true });
});

let files = 0;
const dialects: Array<{ name: string; skip: string | false; where: () => Promise<StoreLocation> }> = [
  { name: 'sqlite', skip: false, where: async () => ({ kind: 'sqlite', file: path.join(dir, `s${++files}.db`) }) },
  { name: 'postgres', skip: postgresSkip, where: async () => ({ kind: 'postgres', url: await postgres.database() }) },
];

/** An app with an environment, a release and an instance of `web`. */
async function seed(r: Repos, name = 'shop') {
  const now = Date.now();
  const appId = await r.apps.upsert(name, `/src/${name}`, `/src/${name}/berth.yaml`, now, 1);
  const env = await r.apps.environmentId(appId, 'production', now);
  const releaseId = await r.releases.create({
    environmentId: env.id,
    number: 1,
    dir: `/r/${name}/1`,
    manifest: '{}',
    source: '{}',
    createdAt: now,
  });
  const instanceId = await r.instances.create(
    { environmentId: env.id, releaseId, service: 'web', idx: 0, spec: '{}', rootDir: `/r/${name}/1` },
    now,
  );
  return { appId, envId: env.id, created: env.created, releaseId, instanceId, now };
}

for (const d of dialects) {
  describe(`the store on ${d.name}`, { skip: d.skip }, () => {
    test('migrations make the same tables; opening again migrates nothing and keeps the rows', async () => {
      const where = await d.where();
      const store = await Store.open(where);
      const ids = await store.write((r) => seed(r));
      assert.equal(ids.created, true);
      assert.deepEqual([ids.appId, ids.envId, ids.releaseId, ids.instanceId], [1, 1, 1, 1], 'ids start at 1');
      await store.close();
      const again = await Store.open(where);
      assert.deepEqual(await again.apps.names(), ['shop']);
      assert.equal((await again.identity.org('default'))?.id, 1, 'the default organisation, made by a migration');
      await again.close();
    });

    test('numbers come back as numbers: bigint times, counts, maxima, sums', async () => {
      const store = await Store.open(await d.where());
      const { envId, now } = await store.write((r) => seed(r));
      const [env] = await store.apps.environments({ id: envId });
      assert.equal(env?.createdAt, now);
      assert.equal(await store.apps.countInOrg(1), 1);
      await store.write(async (r) => {
        assert.equal(await r.attempts.take('shop', 'production', envId, now), 2, 'after release 1');
        await r.attempts.finish('shop', 'production', 2, 'failed', 'boom', now + 1500);
      });
      assert.deepEqual(await store.metrics.deploys([1, 2]), [
        { app: 'shop', env: 'production', status: 'failed', count: 1, finished: 1, sum: 1.5, le: [0, 1] },
      ]);
      assert.deepEqual(await store.alerts.failedDeploys(), [
        { app: 'shop', env: 'production', number: 2, error: 'boom' },
      ]);
      const backup = await store.write((r) => r.backups.claim(envId, null, now));
      await store.backups.update(backup as number, { status: 'verified', finished_at: now + 7, size: 2 ** 40 });
      assert.deepEqual(await store.metrics.lastGoodBackups(), [{ app: 'shop', env: 'production', at: now + 7 }]);
      assert.equal((await store.backups.list(envId))[0]?.size, 2 ** 40);
      const token = await store.metrics.createToken({ name: 'scraper', secretHash: 'h', expiresAt: now + 1, now });
      assert.deepEqual(await store.metrics.tokenByHash('h'), {
        id: token,
        name: 'scraper',
        expiresAt: now + 1,
        createdAt: now,
        lastUsedAt: null,
      });
      await store.close();
    });

    test('upserts and claims: one winner, updates in place', async () => {
      const store = await Store.open(await d.where());
      const { appId, envId, now } = await store.write((r) => seed(r));
      await store.secrets.put(appId, '', 'KEY', 'a', now);
      await store.secrets.put(appId, '', 'KEY', 'b', now + 1);
      assert.deepEqual(
        (await store.secrets.list('shop')).map((s) => [s.name, s.sealed, s.updatedAt]),
        [['KEY', 'b', now + 1]],
      );
      assert.equal(await store.secrets.takeDelivery(appId, 'd1', now, 1000), true);
      assert.equal(await store.secrets.takeDelivery(appId, 'd1', now, 1000), false, 'a replay');
      const site = { slug: 's', orgId: 1, template: 't', host: 'h', createdBy: 'me', now };
      assert.deepEqual([await store.sites.claim(site), await store.sites.claim(site)], [true, false]);
      const run = { environmentId: envId, job: 'j', dueAt: 60_000, release: 1, status: 'running' as const, at: now };
      const first = await store.cron.claim(run);
      assert.equal(typeof first, 'number');
      assert.equal(await store.cron.claim(run), undefined, 'a minute runs once');
      assert.equal(typeof (await store.backups.claim(envId, 60_000, now)), 'number');
      assert.equal(await store.backups.claim(envId, 60_000, now), undefined);
      const user = await store.identity.createUser('ann', 'hash', now);
      await store.identity.setRole(1, user, 'member', now);
      await store.identity.setRole(1, user, 'admin', now);
      assert.deepEqual(await store.identity.members(1), [{ user: 'ann', role: 'admin', since: now }]);
      const invite = await store.identity.createInvite({
        orgId: 1,
        role: 'viewer',
        secretHash: 'i',
        createdBy: user,
        expiresAt: now + 1000,
        now,
      });
      assert.deepEqual(
        [await store.identity.useInvite(invite, user, now), await store.identity.useInvite(invite, user, now)],
        [true, false],
      );
      await store.close();
    });

    test('a unique violation is told apart; a failed write leaves nothing; deleting an app takes what is under it', async () => {
      const store = await Store.open(await d.where());
      const { appId, instanceId, now } = await store.write((r) => seed(r));
      await store.write((r) => r.leases.insert('local', 30001, instanceId, now));
      await assert.rejects(
        store.write((r) => r.leases.insert('local', 30001, instanceId, now)),
        isUniqueViolation,
      );
      await assert.rejects(
        store.write(async (r) => {
          await r.events.append({ at: now, app: 'shop', environment: null, service: null, kind: 'k', message: 'm' });
          throw new Error('changed my mind');
        }),
        /changed my mind/,
      );
      assert.deepEqual(await store.events.recent('shop', 10), []);
      assert.equal(await store.leases.claim('local', 30001, instanceId, now), undefined, 'its own lease');
      assert.deepEqual(await store.leases.portsInRange('local', 30000, 30002), new Set([30001]));
      await store.write((r) => r.apps.delete(appId));
      assert.deepEqual(await store.leases.all(), []);
      assert.deepEqual(await store.instances.list(), []);
      assert.deepEqual(await store.apps.environments(), []);
      await store.close();
    });

    test('instances: the compiled lookups and patches, the view of current releases, cron pruning', async () => {
      const store = await Store.open(await d.where());
      const { envId, releaseId, instanceId } = await store.write((r) => seed(r));
      await store.apps.setCurrentRelease(envId, releaseId);
      await store.instances.update(instanceId, { state: 'healthy', pid: 4242, port: 30002, start_ticks: '77' });
      const v = await store.instances.get(instanceId);
      assert.deepEqual(
        [v?.state, v?.pid, v?.port, v?.startTicks, v?.current, v?.release, v?.orgId],
        ['healthy', 4242, 30002, '77', true, 1, 1],
      );
      assert.equal(await store.instances.get(instanceId + 1), undefined);
      for (let due = 1; due <= 103; due++)
        await store.cron.claim({
          environmentId: envId,
          job: 'j',
          dueAt: due,
          release: 1,
          status: 'succeeded',
          at: due,
        });
      await store.cron.prune(envId, 'j');
      const kept = await store.cron.recent(envId, 'j', 200);
      assert.deepEqual([kept.length, kept[0]?.dueAt, kept.at(-1)?.dueAt], [100, 103, 4]);
      await store.write((r) => r.addresses.insert(releaseId, 'web', 'local', 30003, 1));
      await store.write((r) => r.addresses.insert(releaseId, 'gone', 'local', 30004, 1));
      assert.equal(await store.addresses.deleteUnused(), 1);
      assert.deepEqual(
        (await store.addresses.list()).map((a) => [a.service, a.port, a.release]),
        [['web', 30003, 1]],
      );
      await store.close();
    });

    test('two stores on one database write one at a time: read-then-insert never collides', async () => {
      const where = await d.where();
      const a = await Store.open(where);
      // better-sqlite3 is synchronous: a second SQLite connection in this process would wait for the first one's lock
      // inside the one thread that must commit it. Across processes, SQLite's case: test/leases.
      const b = d.name === 'sqlite' ? a : await Store.open(where);
      const { envId, now } = await a.write((r) => seed(r));
      const take = (s: Store) => s.write((r) => r.attempts.take('shop', 'production', envId, now));
      const numbers = await Promise.all(Array.from({ length: 40 }, (_, i) => take(i % 2 ? a : b)));
      assert.deepEqual(
        [...numbers].sort((x, y) => x - y),
        Array.from({ length: 40 }, (_, i) => i + 2),
      );
      const before = a.counters;
      const batched = await Promise.all(
        [1, 2, 3].map((n) => a.batched((r) => r.attempts.finish('shop', 'production', n + 1, 'succeeded', null, now))),
      );
      assert.equal(batched.length, 3);
      assert.equal(a.counters.commits - before.commits, 1, 'three writes of one turn share one commit');
      assert.ok(a.counters.statements - before.statements >= 5, 'begin, three updates, commit');
      await a.close();
      if (b !== a) await b.close();
    });
  });
}
