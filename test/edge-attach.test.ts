import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { hit } from './helpers/http.js';
import { assertOk, NODE, REPO, TestHome, waitFor } from './helpers/home.js';

const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
const app = (host: string) =>
  `app: attached\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    routes: [{ host: ${host}, tls: off }]\n`;
const started: ChildProcess[] = [];
after(() => started.forEach((c) => c.kill('SIGKILL')));

test('nginx: Berth writes into an existing nginx (include dir, argv test and reload), and its other sites stay', async () => {
  const home = new TestHome('24900-24999');
  const P = home.httpPort;
  const dir = path.join(home.root, 'nginx');
  mkdirSync(path.join(dir, 'berth'), { recursive: true });
  mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  writeFileSync(
    path.join(dir, 'nginx.conf'),
    `pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {}\nhttp {\n    access_log off;\n    client_body_temp_path ${dir}/tmp;\n    proxy_temp_path ${dir}/tmp;\n    server { listen ${P + 200}; return 200 "foreign site\\n"; }\n    include ${dir}/berth/*.conf;\n}\n`,
  );
  const base = ['-p', dir + '/', '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')];
  execFileSync('nginx', base, { env: { ...process.env, BERTH_TEST_HOME: home.home } });
  mkdirSync(home.home, { recursive: true });
  writeFileSync(
    path.join(home.home, 'config.yaml'),
    `proxy: nginx\ninternal_port: ${P + 100}\nnginx:\n  include_dir: ${dir}/berth\n  test_command: ${JSON.stringify(['nginx', '-t', '-q', ...base])}\n  reload_command: ${JSON.stringify(['nginx', ...base, '-s', 'reload'])}\n`,
  );
  try {
    assertOk(await home.cli('deploy', home.app('attached', app('attach.test'))));
    await waitFor(
      'nginx to serve the app',
      async () => (await hit(P, 'attach.test', '/').catch(() => undefined))?.status === 200,
      10_000,
    );
    assert.equal((await hit(P + 200, 'anything', '/')).text(), 'foreign site\n');
    assertOk(await home.cli('rm', 'attached'));
    assert.equal((await hit(P + 200, 'anything', '/')).text(), 'foreign site\n');
  } finally {
    execFileSync('nginx', [...base, '-s', 'quit']);
    await home.cleanup();
  }
});

test('Caddy: Berth attaches to a running Caddy by its admin address, and the rest of its config stays', async () => {
  const home = new TestHome('25000-25099');
  const P = home.httpPort;
  const admin = `127.0.0.1:${P + 300}`;
  const dir = path.join(home.root, 'caddy');
  mkdirSync(dir, { recursive: true });
  const foreign = {
    listen: [`:${P + 200}`],
    automatic_https: { disable: true },
    routes: [{ handle: [{ handler: 'static_response', body: 'foreign site' }] }],
  };
  writeFileSync(
    path.join(dir, 'caddy.json'),
    JSON.stringify({
      admin: { listen: admin },
      storage: { module: 'file_system', root: path.join(dir, 'data') },
      apps: { pki: { certificate_authorities: { local: { install_trust: false } } }, http: { servers: { foreign } } },
    }),
  );
  const caddy = spawn('caddy', ['run', '--config', path.join(dir, 'caddy.json')], {
    env: { PATH: process.env.PATH, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir, BERTH_TEST_HOME: home.home },
    stdio: 'ignore',
  });
  started.push(caddy);
  await waitFor('Caddy', async () => (await hit(P + 200, 'x', '/').catch(() => undefined))?.status === 200, 10_000);
  mkdirSync(home.home, { recursive: true });
  writeFileSync(
    path.join(home.home, 'config.yaml'),
    `proxy: caddy\ninternal_port: ${P + 100}\nhttps_port: ${P + 250}\ncaddy:\n  admin: "${admin}"\n`,
  );
  try {
    assertOk(await home.cli('deploy', home.app('attached', app('attach.test'))));
    assert.equal((await hit(P, 'attach.test', '/')).status, 200);
    assert.equal((await hit(P + 200, 'anything', '/')).text(), 'foreign site');
    assertOk(await home.cli('rm', 'attached'));
    assert.equal((await hit(P + 200, 'anything', '/')).text(), 'foreign site');
  } finally {
    caddy.kill();
    await home.cleanup();
  }
});
