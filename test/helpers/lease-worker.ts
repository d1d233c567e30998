/**
 * A separate process that leases ports from a shared store: `node lease-worker.js <db> <name> <count> <low-high>`,
 * <db> a SQLite file, or "env" for the PostgreSQL URL in BERTH_STORE_URL (kept out of argv: it holds a password).
 * Prints the leased ports as JSON. Used to prove leases never collide across processes.
 */
import { PortAllocator } from '../../src/engine/port-allocator.js';
import { Store } from '../../src/store/store.js';

const [file, name, count, range] = process.argv.slice(2) as [string, string, string, string];
const [low, high] = range.split('-').map(Number) as [number, number];
const store = await Store.open(
  file === 'env' ? { kind: 'postgres', url: process.env.BERTH_STORE_URL as string } : { kind: 'sqlite', file },
);
const ports = new PortAllocator('local', { low, high });
const { envId, releaseId } = await store.write(async (r) => {
  const now = Date.now();
  const appId = await r.apps.upsert(name, `/tmp/${name}`, `/tmp/${name}/berth.yaml`, now, 1);
  const envId = (await r.apps.environmentId(appId, 'production', now)).id;
  return {
    envId,
    releaseId: await r.releases.create({
      environmentId: envId,
      number: 1,
      dir: `/tmp/${name}/r1`,
      manifest: '{}',
      source: '{}',
      createdAt: now,
    }),
  };
});
const leased: number[] = [];
for (let i = 0; i < Number(count); i++) {
  leased.push(
    await store.write(async (r) => {
      const id = await r.instances.create(
        { environmentId: envId, releaseId, service: 'web', idx: i, spec: '{}', rootDir: `/tmp/${name}/r1` },
        Date.now(),
      );
      return ports.leaseAuto(r, id, Date.now());
    }),
  );
}
await store.close();
process.stdout.write(JSON.stringify(leased));
