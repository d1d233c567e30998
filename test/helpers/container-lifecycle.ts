import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { InstanceStatus } from '../../src/core/results.js';
import { type TestDockerd, withEngine } from './dockerd.js';
import { hit } from './http.js';
import { assertOk, TestHome, waitFor } from './home.js';
import { wrk } from './proxy-process.js';

interface Inspected {
  Id: string;
  Name: string;
  Config: { Labels: Record<string, string> };
  HostConfig: {
    PortBindings: Record<string, { HostIp: string; HostPort: string }[]>;
    RestartPolicy: { Name: string };
    Privileged: boolean;
  };
}

/**
 * The lifecycle of an `image:` service, the same on every engine: test/containers runs it on a
 * private dockerd, test/containers-podman on Podman's Docker-compatible service. `ports` is the
 * test file's own range.
 */
export function containerLifecycle(dockerd: TestDockerd, ports: string): void {
  const home = new TestHome(ports);
  const P = home.httpPort;

  withEngine(home, dockerd, async () => {
    await dockerd.buildImage('berth-test/web:1', { health: 'ok\n', 'index.html': 'image\n' });
  });

  /** busybox httpd in the image: it writes its version where it serves, logs a line, keeps a file in its volume. */
  const manifest = (version: number) => `app: boxes
services:
  web:
    image: berth-test/web:1
    container_port: 8080
    run: 'echo "$VERSION" > /www/index.html; echo "started $VERSION"; echo "$VERSION" >> /data/starts; exec httpd -f -p 8080 -h /www'
    env: { VERSION: "${version}" }
    volumes: { /data: files }
    health: { http: /health }
    drain: 1s
    stop_timeout: 1s
    routes: [boxes.test]
`;

  async function containers(): Promise<Inspected[]> {
    const list = await dockerd.engine.call<{ Id: string }[]>('GET', '/containers/json');
    return Promise.all(list.map((c) => dockerd.engine.call<Inspected>('GET', `/containers/${c.Id}/json`)));
  }

  /** The last version the redeploys make (1 is the first deploy's). */
  const LAST = Number(process.env.CONTAINER_DEPLOYS ?? 2) + 1;

  const web = async () => (await home.json<InstanceStatus[]>('ps', 'boxes')).filter((s) => s.current);

  test('an image: service deploys as a labelled container published on 127.0.0.1 only; ps shows its image; its output is in berth logs', async () => {
    const dir = home.app('boxes', manifest(1));
    assertOk(await home.cli('deploy', dir));
    assert.equal((await hit(P, 'boxes.test', '/')).text(), '1\n');
    const [row] = await web();
    assert.ok(row);
    assert.equal(row.image, 'berth-test/web:1');
    assert.equal(row.state, 'healthy');
    const [c, ...more] = await containers();
    assert.ok(c);
    assert.equal(more.length, 0);
    assert.equal(c.Config.Labels['berth.app'], 'boxes');
    assert.equal(c.Config.Labels['berth.service'], 'web');
    assert.equal(c.Config.Labels['berth.env'], 'production');
    assert.equal(c.Config.Labels['berth.release'], '1');
    assert.deepEqual(c.HostConfig.PortBindings['8080/tcp'], [{ HostIp: '127.0.0.1', HostPort: String(row.port) }]);
    assert.equal(c.HostConfig.RestartPolicy.Name, 'no');
    assert.equal(c.HostConfig.Privileged, false);
    assert.match((await home.cli('ps', 'boxes')).stdout, /berth-test\/web:1/);
    await waitFor('the container output in berth logs', async () =>
      (await home.cli('logs', 'boxes')).stdout.includes('started 1'),
    );
  });

  test('blue-green redeploys (2 here, CONTAINER_DEPLOYS=N for more; test/container-load makes 20) under wrk through the proxy: no failed request; the old containers are removed', async () => {
    const dir = path.join(home.root, 'apps', 'boxes');
    const deploys = (async () => {
      for (let v = 2; v <= LAST; v++) {
        writeFileSync(path.join(dir, 'berth.yaml'), manifest(v));
        assertOk(await home.cli('deploy', dir));
      }
    })();
    const res = await wrk(`http://127.0.0.1:${P}/`, {
      connections: 20,
      seconds: 600,
      host: 'boxes.test',
      until: deploys,
    });
    await deploys;
    assert.equal(res.errors, 0, res.output);
    assert.equal(res.non2xx, 0, res.output);
    assert.equal((await hit(P, 'boxes.test', '/')).text(), `${LAST}\n`);
    assert.equal((await containers()).length, 1, 'only the serving release runs');
  });

  test('a container that dies is restarted by Berth (engine restart policy "no"), and serves again', async () => {
    const [before] = await web();
    assert.ok(before?.pid);
    const pid = before.pid;
    process.kill(pid, 'SIGKILL');
    const after = await waitFor('a restarted healthy container', async () => {
      const [row] = await web();
      return row?.restarts === before.restarts + 1 && row.state === 'healthy' ? row : undefined;
    });
    assert.notEqual(after.pid, pid);
    assert.equal((await hit(P, 'boxes.test', '/')).text(), `${LAST}\n`);
    assert.equal((await containers()).length, 1);
  });

  test('kill -9 of berthd: the restarted berthd adopts the running container by its label (same id, no restart)', async () => {
    const [row] = await web();
    const [c] = await containers();
    const pid = home.daemonPid();
    assert.ok(pid && c && row);
    process.kill(pid, 'SIGKILL');
    await waitFor('berthd gone', () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
    assert.equal((await hit(P, 'boxes.test', '/')).text(), `${LAST}\n`, 'traffic never depends on berthd');
    assertOk(await home.cli('daemon', 'start'));
    const [again] = await web();
    assert.ok(again);
    assert.equal(again.state, 'healthy');
    assert.equal(again.restarts, row.restarts);
    assert.equal(again.pid, row.pid);
    assert.deepEqual(
      (await containers()).map((x) => x.Id),
      [c.Id],
    );
    // It is followed again: its next exit is seen (with its status) and restarts it.
    process.kill(row.pid as number, 'SIGKILL');
    const restarted = await waitFor('the adopted container restarted', async () => {
      const [r] = await web();
      return r?.restarts === row.restarts + 1 && r.state === 'healthy' ? r : undefined;
    });
    // The engine's wait told its status (a polled pid could not): 137, killed by SIGKILL.
    assert.equal(restarted.lastExit?.code, 137);
  });
}
