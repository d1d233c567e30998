import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { hit } from './helpers/http.js';
import { assertOk, NODE, REPO, TestHome } from './helpers/home.js';

const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
const home = new TestHome('24800-24899');
const P = home.httpPort;
Object.assign(home.env, { BERTH_INTERNAL_PORT: String(P + 100), BERTH_HTTPS_PORT: '18248' });
after(() => home.cleanup());

test('berth config set proxy: the routes move to the new proxy, the old one stops; bad values are refused', async () => {
  assertOk(
    await home.cli(
      'deploy',
      home.app(
        'moving',
        `app: moving\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    routes: [{ host: moving.test, tls: off }]\n`,
      ),
    ),
  );
  assert.equal((await hit(P, 'moving.test', '/')).status, 200);
  assert.equal((await home.json<{ kind: string }>('proxy', 'status')).kind, 'builtin');
  assertOk(await home.cli('config', 'set', 'proxy', 'nginx'));
  assert.equal((await home.json<{ kind: string; running: boolean }>('proxy', 'status')).kind, 'nginx');
  const viaNginx = await hit(P, 'moving.test', '/');
  assert.equal(viaNginx.status, 200);
  assert.equal(viaNginx.headers.server?.toString().startsWith('nginx'), true, 'nginx answers on the HTTP port now');
  // Effective values, each with where it comes from: config.yaml, berthd's environment, or the default.
  const file = path.join(home.home, 'config.yaml');
  assert.equal((await home.cli('config', 'get', 'proxy')).stdout.trim(), `nginx  (${file})`);
  const all = (await home.cli('config', 'get')).stdout.split('\n').map((l) => l.split(/ {2,}/));
  assert.deepEqual(all[0], ['KEY', 'VALUE', 'SOURCE']);
  const row = (key: string) => all.find((cells) => cells[0] === key)?.slice(1);
  assert.deepEqual(row('proxy'), ['nginx', file]);
  assert.deepEqual(row('internal_port'), [String(P + 100), 'env BERTH_INTERNAL_PORT']);
  assert.deepEqual(row('releases_keep'), ['5', 'default']);
  assert.deepEqual(row('api_listen'), ['-', 'default']);
  assert.deepEqual(await home.json('config', 'get', 'https_port'), {
    key: 'https_port',
    value: 18248,
    source: 'env BERTH_HTTPS_PORT',
  });
  const bad = await home.cli('config', 'set', 'proxy', 'apache');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /proxy: expected "builtin", "caddy" or "nginx", got "apache"|proxy/);
  assert.match(readFileSync(path.join(home.home, 'config.yaml'), 'utf8'), /proxy: nginx/);
  assertOk(await home.cli('config', 'set', 'proxy', 'builtin'));
  const back = await hit(P, 'moving.test', '/');
  assert.equal(back.status, 200);
  assert.equal(back.headers.server, undefined, 'the builtin proxy answers again');
});
