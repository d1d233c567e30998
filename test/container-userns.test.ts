import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { InstanceStatus } from '../src/core/results.js';
import { TestDockerd, withEngine } from './helpers/dockerd.js';
import { hit } from './helpers/http.js';
import { assertOk, TestHome } from './helpers/home.js';

/**
 * A container app on a dockerd with user namespace remapping (`--userns-remap=default`, as the
 * README says to turn it on): it deploys and serves unchanged, and the root of its container is
 * not uid 0 of the host.
 */
const home = new TestHome('27500-27599');
const dockerd = new TestDockerd(mkdtempSync(path.join(tmpdir(), 'berth-dockerd-')), { usernsRemap: true });
withEngine(home, dockerd, async () => {
  await dockerd.buildImage('berth-test/userns:1', { health: 'ok\n', 'index.html': 'remapped\n' });
});

test("on a userns-remapped engine a container app deploys and serves; its root is not the host's root", async () => {
  const info = await dockerd.engine.call<{ SecurityOptions: string[] }>('GET', '/info');
  assert.ok(info.SecurityOptions.includes('name=userns'), JSON.stringify(info.SecurityOptions));
  const dir = home.app(
    'remapped',
    'app: remapped\nservices:\n  web:\n    image: berth-test/userns:1\n    container_port: 8080\n    health: { http: /health }\n    stop_timeout: 1s\n    routes: [remapped.test]\n',
  );
  assertOk(await home.cli('deploy', dir));
  assert.equal((await hit(home.httpPort, 'remapped.test', '/')).text(), 'remapped\n');
  const [row] = (await home.json<InstanceStatus[]>('ps', 'remapped')).filter((s) => s.current);
  assert.ok(row?.pid, JSON.stringify(row));
  const ids = (line: string) =>
    (new RegExp(`^${line}:\\s+(.*)$`, 'm').exec(readFileSync(`/proc/${row.pid}/status`, 'utf8'))?.[1] ?? '')
      .split(/\s+/)
      .map(Number);
  const uids = ids('Uid');
  assert.equal(uids.length, 4);
  // The image runs as its root (no USER): uid 0 in the container, the first subordinate id on the host.
  assert.ok(
    uids.every((u) => u >= 65536),
    `the container's root runs as uids ${uids.join(' ')} on the host`,
  );
  assert.ok(ids('Gid').every((g) => g >= 65536));
  const map = readFileSync(`/proc/${row.pid}/uid_map`, 'utf8').trim().split(/\s+/).map(Number);
  assert.deepEqual([map[0], map[1]], [0, uids[0]], 'uid 0 inside is that uid outside');
});
