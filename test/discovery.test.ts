import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { hit } from './helpers/http.js';
import { assertOk, NODE, TestHome, waitFor } from './helpers/home.js';
import type { InstanceStatus } from '../src/core/results.js';
import { dependencyEnv, launchEnv } from '../src/engine/launch-env.js';
import { parseManifest } from '../src/config/manifest.js';
import { BerthError } from '../src/core/errors.js';
import { PortAllocator } from '../src/engine/port-allocator.js';
import { Store } from '../src/store/store.js';
import { ServiceListeners } from '../src/proxy/builtin/service-listeners.js';

const home = new TestHome('30800-30999');
const P = home.httpPort;
before(() => home.cli('daemon', 'start'));
after(() => home.cleanup());

/** The API: answers its version, pid and port. */
const API = `import { createServer } from 'node:http';
createServer((req, res) => res.end(JSON.stringify({ version: process.env.VERSION, pid: process.pid, port: process.env.PORT })))
  .listen(Number(process.env.PORT), '127.0.0.1');
`;

/**
 * The front end: asks API_URL at start (written to $DATA_DIR, while its release is not serving
 * yet), and on each request (a new connection each time; /fanout?n=N asks N times).
 */
const WEB = `import { createServer, get } from 'node:http';
import { writeFileSync } from 'node:fs';
const ask = () => new Promise((resolve) => {
  get(process.env.API_URL + '/', { agent: false }, (r) => {
    let b = '';
    r.on('data', (c) => (b += c));
    r.on('end', () => resolve(JSON.parse(b)));
  }).on('error', (e) => resolve({ error: e.message }));
});
const vars = { url: process.env.API_URL, host: process.env.API_HOST, port: process.env.API_PORT };
const first = await ask();
writeFileSync(process.env.DATA_DIR + '/web-' + process.env.VERSION + '.json', JSON.stringify({ ...vars, first }));
createServer(async (req, res) => {
  const n = Number(new URL(req.url, 'http://x').searchParams.get('n') ?? 1);
  const answers = [];
  for (let i = 0; i < n; i++) answers.push(await ask());
  res.end(JSON.stringify({ web: process.env.VERSION, ...vars, answers }));
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

const manifest = (app: string, version: string, apiInstances = 1) =>
  `app: ${app}
services:
  api:
    run: ["${NODE}", "api.mjs"]
    instances: ${apiInstances}
    env: { VERSION: ${version} }
    routes: [api.${app}.test]
  web:
    run: ["${NODE}", "web.mjs"]
    depends_on: [api]
    env: { VERSION: ${version} }
    routes: [${app}.test]
`;

interface WebAnswer {
  web: string;
  url: string;
  host: string;
  port: string;
  answers: Array<{ version?: string; pid?: number; port?: string; error?: string }>;
}

const ask = async (app: string, n = 1): Promise<WebAnswer> => {
  const r = await hit(P, `${app}.test`, `/?n=${n}`);
  assert.equal(r.status, 200, r.text());
  return r.json<WebAnswer>();
};
const ps = (app: string) => home.json<InstanceStatus[]>('ps', app);
const deploy = async (app: string, version: string, apiInstances = 1) => {
  const dir = home.app(app, manifest(app, version, apiInstances), { 'api.mjs': API, 'web.mjs': WEB });
  assertOk(await home.cli('deploy', dir, '--json'), `deploy ${app} ${version}`);
};
const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', () => resolve(true));
  });

test('a dependent reaches its dependency of the same release, also during a blue-green deploy', async () => {
  await deploy('disco', 'v1');
  const one = await ask('disco');
  assert.equal(one.web, 'v1');
  assert.equal(one.answers[0]?.version, 'v1', 'web v1 reaches api v1 through API_URL');
  assert.equal(one.host, '127.0.0.1');
  assert.equal(one.url, `http://127.0.0.1:${one.port}`);
  const apiV1 = (await ps('disco')).find((v) => v.service === 'api') as InstanceStatus;
  assert.notEqual(Number(one.port), apiV1.port, 'the address is the balancer, not the instance');

  await deploy('disco', 'v2');
  const data = path.join(home.home, 'data', 'disco', 'production');
  const started = JSON.parse(readFileSync(path.join(data, 'web-v2.json'), 'utf8')) as {
    port: string;
    first: { version?: string };
  };
  assert.equal(started.first.version, 'v2', 'the new web reached the new api before its release served');
  assert.notEqual(started.port, one.port, 'each release has its own address');
  const two = await ask('disco', 3);
  assert.equal(two.web, 'v2');
  assert.deepEqual(
    two.answers.map((a) => a.version),
    ['v2', 'v2', 'v2'],
  );
  assert.ok(await refused(Number(one.port)), 'the retired release has no address any more');
  // A one-off command in the current release sees what its instances see.
  const run = await home.cli('run', 'disco', '--service', 'web', '--', 'sh', '-c', 'echo "$API_URL"');
  assertOk(run);
  assert.equal(run.stdout.trim(), `http://127.0.0.1:${started.port}`, 'berth run gets the release-2 API_URL');

  // The address lives in the proxy, not in berthd: a proxy that dies comes back with it.
  const proxy = await home.json<{ pid: number }>('proxy', 'status');
  process.kill(proxy.pid, 'SIGKILL');
  await waitFor(
    'a new proxy process',
    async () => (await home.json<{ pid?: number }>('proxy', 'status')).pid !== proxy.pid,
  );
  const back = await waitFor('web to reach api again', async () => (await ask('disco')).answers[0]?.version);
  assert.equal(back, 'v2');
});

test('an address spreads over every instance and follows crashes and restarts', async () => {
  await deploy('spread', 'v1', 2);
  const pids = async () =>
    (await ps('spread'))
      .filter((v) => v.service === 'api' && v.state === 'healthy')
      .map((v) => v.pid)
      .sort();
  const before = await pids();
  assert.equal(before.length, 2);
  const reached = async (n: number) => {
    const r = await ask('spread', n);
    assert.deepEqual(
      r.answers.filter((a) => a.error),
      [],
      'every connection reached an instance',
    );
    return [...new Set(r.answers.map((a) => a.pid))].sort();
  };
  assert.deepEqual(await reached(6), before, 'both instances get connections');

  // A crash: connections reach the restarted process.
  process.kill(before[0] as number, 'SIGKILL');
  const afterCrash = await waitFor('the crashed instance to run again', async () => {
    const now = await pids();
    return now.length === 2 && !now.includes(before[0] as number) ? now : undefined;
  });
  // Healthy again: the proxy hears of it a moment later (berthd pushes the table in the background).
  await waitFor('both instances reached again', async () => (await reached(6)).join() === afterCrash.join());

  // berth restart: new instances on new ports, and the same address.
  const ports = (await ps('spread')).filter((v) => v.service === 'api').map((v) => v.port);
  assertOk(await home.cli('restart', 'spread', 'api'));
  const now = await ps('spread');
  const api = now.filter((v) => v.service === 'api' && v.state === 'healthy');
  assert.equal(api.length, 2);
  assert.ok(
    api.every((v) => !ports.includes(v.port)),
    'restarted on new ports',
  );
  assert.deepEqual(await reached(6), api.map((v) => v.pid).sort());
});

test("<NAME>_URL, _HOST and _PORT: dashes become underscores, the user's env wins", async () => {
  const m = parseManifest(
    `app: names\nservices:\n  user-db:\n    run: db\n  api:\n    run: api\n  web:\n    run: web\n    depends_on: [user-db, api]\n    env: { API_URL: "https://api.example.com" }\n`,
    'berth.yaml',
  );
  const web = m.services.find((s) => s.name === 'web');
  assert.ok(web);
  const addresses = [
    { service: 'user-db', port: 20001 },
    { service: 'api', port: 20002 },
  ];
  assert.deepEqual(dependencyEnv(web, addresses), {
    USER_DB_URL: 'http://127.0.0.1:20001',
    USER_DB_HOST: '127.0.0.1',
    USER_DB_PORT: '20001',
    API_URL: 'http://127.0.0.1:20002',
    API_HOST: '127.0.0.1',
    API_PORT: '20002',
  });
  const env = launchEnv(web, 20003, '/data', 'm', { PATH: '/bin', HOME: '/' }, addresses);
  assert.equal(env.API_URL, 'https://api.example.com', "the manifest's own value wins");
  assert.equal(env.API_PORT, '20002');
  assert.equal(env.USER_DB_URL, 'http://127.0.0.1:20001');
});

test('an address and an instance never share a port; an address goes with the last instance of its service', async () => {
  const store = await Store.openSqlite(path.join(home.root, 'addresses.db'));
  try {
    const ports = new PortAllocator('local', { low: 30990, high: 30999 });
    const { releaseId, instance } = await store.write(async (r) => {
      const now = Date.now();
      const appId = await r.apps.upsert('shop', '/tmp/shop', '/tmp/shop/berth.yaml', now, 1);
      const envId = (await r.apps.environmentId(appId, 'production', now)).id;
      const releaseId = await r.releases.create({
        environmentId: envId,
        number: 1,
        dir: '/tmp/shop/r1',
        manifest: '{}',
        source: '{}',
        createdAt: now,
      });
      const instance = await r.instances.create(
        { environmentId: envId, releaseId, service: 'api', idx: 0, spec: '{}', rootDir: '/tmp/shop/r1' },
        now,
      );
      return { releaseId, instance };
    });
    const address = await store.write((r) => ports.leaseAddress(r, releaseId, 'api', Date.now()));
    assert.equal(address, 30990);
    assert.equal(
      await store.write((r) => ports.leaseAddress(r, releaseId, 'api', Date.now())),
      30990,
      'one per service',
    );
    assert.equal(
      await store.write((r) => ports.leaseAuto(r, instance, Date.now())),
      30991,
      'a lease skips the address',
    );
    await assert.rejects(
      store.write((r) => ports.leasePinned(r, instance, 30990, Date.now(), 1)),
      (e: unknown) => e instanceof BerthError && e.code === 'port_taken' && /service address/.test(e.message),
    );
    assert.equal(await store.write((r) => r.addresses.deleteUnused()), 0, 'kept while an instance of api exists');
    await store.instances.delete(instance);
    assert.equal(await store.write((r) => r.addresses.deleteUnused()), 1);
    assert.deepEqual(await store.addresses.list(), []);
  } finally {
    await store.close();
  }
});

test('an address port taken while the proxy was down blocks no other change, and is bound again once free', async () => {
  await deploy('steal', 'v1');
  const port = Number((await ask('steal')).port);
  assertOk(await home.cli('proxy', 'stop'));
  const foreign = createServer((s) => s.end()); // a local process that took the port meanwhile
  await new Promise<void>((r) => foreign.listen(port, '127.0.0.1', r));
  try {
    assertOk(await home.cli('proxy', 'start'), 'the proxy starts, serving what it can');
    await deploy('other', 'v1');
    assert.equal((await ask('other')).answers[0]?.version, 'v1', 'another app deploys meanwhile');
  } finally {
    await new Promise((r) => foreign.close(r));
  }
  assertOk(await home.cli('restart', 'other', 'web')); // any change of the table: the proxy tries the port again
  assert.equal(
    await waitFor('steal to reach its api again', async () => (await ask('steal')).answers[0]?.version),
    'v1',
  );
});

test('a service listener skips an instance that refuses the connection', async () => {
  const live = createServer((s) => s.end('live'));
  await new Promise<void>((r) => live.listen(0, '127.0.0.1', r));
  const dead = createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
  const deadPort = (dead.address() as AddressInfo).port;
  await new Promise((r) => dead.close(r)); // nothing listens there any more: connections are refused
  const listeners = new ServiceListeners();
  const port = 30998;
  const upstreams = [`127.0.0.1:${deadPort}`, `127.0.0.1:${(live.address() as AddressInfo).port}`];
  try {
    assert.deepEqual(
      await listeners.apply([{ port, app: 'a', env: 'production', release: 1, service: 'api', upstreams }]),
      [],
    );
    const read = () =>
      new Promise<string>((resolve) => {
        let got = '';
        connect({ host: '127.0.0.1', port })
          .on('data', (c: Buffer) => (got += c.toString()))
          .on('close', () => resolve(got))
          .on('error', () => undefined);
      });
    for (let i = 0; i < 4; i++) assert.equal(await read(), 'live');
  } finally {
    listeners.close();
    live.close();
  }
});
