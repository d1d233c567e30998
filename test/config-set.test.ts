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
  assert.equal((await home.cli('config', 'get', 'proxy')).stdout.trim(), 'nginx');
  const bad = await home.cli('config', 'set', 'proxy', 'apache');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /proxy: expected "builtin", "caddy" or "nginx", got "apache"|proxy/);
  assert.match(readFileSync(path.join(home.home, 'config.yaml'), 'utf8'), /proxy: nginx/);
  assertOk(await home.cli('config', 'set', 'proxy', 'builtin'));
  const back = await hit(P, 'moving.test', '/');
  assert.equal(back.status, 200);
  assert.equal(back.headers.server, undefined, 'the builtin proxy answers again');
});
