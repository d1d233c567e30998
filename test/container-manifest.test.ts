import assert from 'node:assert/strict';
import path from 'node:path';
import { after, test } from 'node:test';
import { parseManifest, ManifestError } from '../src/config/manifest.js';
import { containerConfig } from '../src/runtime/container-config.js';
import { assertOk, NODE, REPO, TestHome } from './helpers/home.js';

/** The problems of a one-service manifest whose service is `body` (YAML flow mapping entries). */
function problems(body: string): string {
  try {
    parseManifest(`app: box\nservices:\n  web: { ${body} }\n`, 'berth.yaml');
    return '';
  } catch (err) {
    assert.ok(err instanceof ManifestError, String(err));
    return err.message;
  }
}

const IMAGE = 'image: busybox:1, container_port: 8080';

test('every way out of a container is refused with its reason, not as an unknown key', () => {
  const escapes: Record<string, RegExp> = {
    'privileged: true': /"privileged" is refused: a privileged container is root on the host/,
    'network_mode: host': /"network_mode" is refused: .*host's network/,
    'pid: host': /"pid" is refused: the host's process namespace/,
    'ipc: host': /"ipc" is refused: the host's IPC namespace/,
    'devices: ["/dev/sda:/dev/sda"]': /"devices" is refused: the host's devices/,
    'cap_add: [SYS_ADMIN]': /"cap_add" is refused: capabilities are never added/,
    'security_opt: ["seccomp:unconfined"]': /"security_opt" is refused/,
    'userns_mode: host': /"userns_mode" is refused/,
    'ports: ["0.0.0.0:80:8080"]': /"ports" is refused: .*127\.0\.0\.1/,
    'network_mode: "container:db"': /"network_mode" is refused: .*another container's/,
    'networks: [other-app]': /"networks" is refused: a container runs on its app environment's own network/,
    'uts: host': /"uts" is refused: the host's UTS namespace/,
    'mounts: [{ type: bind, source: /, target: /host }]': /"mounts" is refused: nothing of the host is mounted/,
  };
  for (const [option, reason] of Object.entries(escapes)) {
    const text = problems(`${IMAGE}, ${option}`);
    assert.match(text, reason, option);
    assert.doesNotMatch(text, /unknown key/, option);
  }
});

test('volumes mount directories of $DATA_DIR only: a host path, the engine socket, "/" or ".." are refused', () => {
  assert.equal(problems(`${IMAGE}, volumes: { /app/media: media }`), '');
  assert.match(
    problems(`${IMAGE}, volumes: { /var/run/docker.sock: /var/run/docker.sock }`),
    /expected a volume name .*nothing of the host but the environment's own \$DATA_DIR is ever mounted/,
  );
  assert.match(problems(`${IMAGE}, volumes: { /data: ../../etc }`), /expected a volume name/);
  assert.match(problems(`${IMAGE}, volumes: { /: media }`), /expected an absolute path inside the container/);
  assert.match(problems(`${IMAGE}, volumes: { data: media }`), /expected an absolute path inside the container/);
  assert.match(problems(`${IMAGE}, volumes: { /a/../b: media }`), /expected an absolute path inside the container/);
});

test('container keys: container_port is required with a port, container keys need an image, image is an option never', () => {
  assert.match(problems('image: busybox:1'), /needs `container_port`/);
  assert.match(problems('run: "sleep 1", volumes: { /d: d }'), /only applies to a container/);
  assert.match(problems(`${IMAGE}, static: dist`), /`static` does not apply to a container/);
  assert.match(problems('image: "-v", container_port: 80'), /services\.web\.image/);
  assert.equal(problems('image: busybox:1, port: none, run: ["sleep", "9"]'), '');
  assert.equal(problems(`${IMAGE}, user: "1000:1000"`), '');
  assert.equal(problems(`${IMAGE}, user: app`), '');
  assert.match(problems(`${IMAGE}, user: "a b"`), /services\.web\.user/);
  assert.match(problems('run: "sleep 1", user: app'), /`user` only applies to a container/);
});

test('the create request: never privileged, no added capability, no-new-privileges, 127.0.0.1 only, restart "no", volumes only', () => {
  const m = parseManifest(
    `app: box\nservices:\n  web: { ${IMAGE}, volumes: { /data: files }, entrypoint: /bin/sh, run: ["-c", "httpd"], user: "1000:1000" }\n`,
    'berth.yaml',
  );
  const spec = m.services[0];
  assert.ok(spec);
  const who = { app: 'box', env: 'production', service: 'web', release: 3, instance: 7, marker: 'h:7' };
  const c = containerConfig({
    who,
    home: 'h',
    spec,
    network: 'berth-h-box-production',
    env: { A: '1' },
    mounts: [{ source: '/home/data/files', target: '/data' }],
    hostPort: 20001,
  }) as {
    HostConfig: Record<string, unknown>;
    Cmd: string[];
    Entrypoint: string[];
    Labels: Record<string, string>;
    User: string;
  };
  assert.equal(c.User, '1000:1000', '`user:` is who it runs as (without it, the image USER)');
  assert.equal(c.HostConfig.Privileged, false);
  assert.equal(c.HostConfig.CapAdd, undefined);
  assert.deepEqual(c.HostConfig.SecurityOpt, ['no-new-privileges']);
  assert.deepEqual(c.HostConfig.RestartPolicy, { Name: 'no' });
  assert.equal(c.HostConfig.NetworkMode, 'berth-h-box-production');
  assert.deepEqual(c.HostConfig.PortBindings, { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '20001' }] });
  assert.deepEqual(c.HostConfig.Mounts, [
    { Type: 'bind', Source: '/home/data/files', Target: '/data', ReadOnly: false },
  ]);
  assert.deepEqual(c.Entrypoint, ['/bin/sh']);
  assert.deepEqual(c.Cmd, ['-c', 'httpd']);
  assert.equal(c.Labels['berth.instance'], 'h:7');
});

const home = new TestHome('31500-31599');
home.env.BERTH_CONTAINER_ENGINE = `unix://${path.join(home.root, 'no-engine.sock')}`;
after(() => home.cleanup());

test('without an engine: a container deploy fails naming container_engine; a process app deploys as ever', async () => {
  const box = home.app('box', `app: box\nservices:\n  web: { ${IMAGE} }\n`);
  const r = await home.cli('deploy', box);
  assert.notEqual(r.code, 0);
  assert.match(
    r.stdout + r.stderr,
    /container engine at .*no-engine\.sock \(host setting container_engine\) does not answer/,
  );
  assert.match(r.stdout + r.stderr, /container_engine/);
  const server = path.join(REPO, 'test', 'fixtures', 'server.mjs');
  assertOk(
    await home.cli('deploy', home.app('plain', `app: plain\nservices:\n  web: { run: ["${NODE}", "${server}"] }\n`)),
  );
});
