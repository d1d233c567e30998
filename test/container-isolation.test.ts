import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { TestDockerd } from './helpers/dockerd.js';
import { assertOk, NODE, TestHome } from './helpers/home.js';

/**
 * Isolation between apps' containers. Docker keeps one bridge network from another with iptables
 * rules (DOCKER-ISOLATION-STAGE-1/2, with forwarding on), as a host's Docker runs by default; the
 * other tests' dockerd runs without iptables. So this file runs itself again inside a network
 * namespace of its own (unshare --net), where its dockerd has iptables and forwarding on, and the
 * rules it writes touch nothing of the host's.
 */
const INSIDE = 'BERTH_TEST_OWN_NETNS';

if (process.env[INSIDE] !== '1') {
  test('runs in a network namespace of its own, with a dockerd that has iptables on', async (t) => {
    const file = fileURLToPath(import.meta.url);
    const env: NodeJS.ProcessEnv = { ...process.env, [INSIDE]: '1' };
    delete env.NODE_TEST_CONTEXT; // the file runs as a test run of its own, not as a subtest of this one
    const child = spawn('unshare', ['--net', '--fork', '--kill-child', NODE, '--test-reporter=tap', file], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    for (const line of out.split('\n').filter((l) => /^\s+(not )?ok \d/.test(l))) t.diagnostic(line.trim());
    assert.equal(code, 0, out);
    assert.match(out, /^# pass 4$/m, out);
  });
} else isolationTests();

function isolationTests(): void {
  const home = new TestHome('32250-32299');
  const dockerd = new TestDockerd(mkdtempSync(path.join(tmpdir(), 'berth-dockerd-')), { iptables: true });
  home.env.BERTH_CONTAINER_ENGINE = `unix://${dockerd.socket}`;

  before(async () => {
    execFileSync('ip', ['link', 'set', 'lo', 'up']);
    await dockerd.start();
    await dockerd.buildImage('berth-test/iso:1', { health: 'ok\n' });
    assertOk(await home.cli('daemon', 'start'));
  });
  after(async () => {
    try {
      await home.cleanup();
    } finally {
      await dockerd.remove();
    }
  });

  /** Runs `cmd` in the container of app/service (docker exec through the API); its exit code and output. */
  const exec = async (app: string, service: string, cmd: string): Promise<{ code: number; out: string }> => {
    const filters = encodeURIComponent(JSON.stringify({ label: [`berth.app=${app}`, `berth.service=${service}`] }));
    const [c] = await dockerd.engine.call<{ Id: string }[]>('GET', `/containers/json?filters=${filters}`);
    assert.ok(c, `a container of ${app}/${service}`);
    const { Id } = await dockerd.engine.call<{ Id: string }>('POST', `/containers/${c.Id}/exec`, {
      Cmd: ['sh', '-c', cmd],
      AttachStdout: true,
      AttachStderr: true,
    });
    const body = Readable.from([JSON.stringify({ Detach: false, Tty: false })]);
    let out = '';
    for await (const chunk of await dockerd.engine.stream('POST', `/exec/${Id}/start`, body, 'application/json'))
      out += String(chunk);
    const { ExitCode } = await dockerd.engine.call<{ ExitCode: number }>('GET', `/exec/${Id}/json`);
    return { code: ExitCode, out };
  };
  const ipOf = async (app: string, service: string) => {
    const filters = encodeURIComponent(JSON.stringify({ label: [`berth.app=${app}`, `berth.service=${service}`] }));
    const [c] = await dockerd.engine.call<{ NetworkSettings: { Networks: Record<string, { IPAddress: string }> } }[]>(
      'GET',
      `/containers/json?filters=${filters}`,
    );
    const ip = Object.values(c?.NetworkSettings.Networks ?? {})[0]?.IPAddress;
    assert.ok(ip, `the address of ${app}/${service}`);
    return ip;
  };
  const envOf = async (app: string, service: string, name: string) =>
    (await exec(app, service, `echo "$${name}"`)).out.replace(/[^\x20-\x7e]/g, '').trim();

  /** Each app: a container `vault` serving a secret, a process `api` and a container `web` that depends on it. */
  const manifest = (app: string) => `app: ${app}
services:
  vault:
    image: berth-test/iso:1
    container_port: 8080
    run: 'echo "vault of ${app}" > /www/index.html; exec httpd -f -p 8080 -h /www'
    health: { http: /health }
    stop_timeout: 1s
  api:
    run: ["${NODE}", "-e", "require('http').createServer((q, s) => s.end('api of ${app}')).listen(+process.env.PORT, '127.0.0.1')"]
  web:
    image: berth-test/iso:1
    container_port: 8080
    depends_on: [api]
    health: { http: /health }
    stop_timeout: 1s
`;
  const get = (url: string) => `timeout 5 wget -qO- ${url}`;

  test('two apps: each app reaches its own containers by service name and its own process through its gateway', async () => {
    for (const app of ['alpha', 'beta']) assertOk(await home.cli('deploy', home.app(app, manifest(app))));
    const doctor = JSON.parse((await home.cli('doctor', '--json')).stdout) as { findings: { code: string }[] };
    assert.deepEqual(
      doctor.findings.filter((f) => f.code === 'container_isolation'),
      [],
      'dockerd writes its rules: doctor finds nothing to say (test/containers-mixed: without them, it does)',
    );
    for (const app of ['alpha', 'beta']) {
      const byName = await exec(app, 'web', get('http://vault:8080/'));
      assert.equal(byName.code, 0, byName.out);
      assert.match(byName.out, new RegExp(`vault of ${app}`));
      const api = await exec(app, 'web', get('"$API_URL/"'));
      assert.equal(api.code, 0, api.out);
      assert.match(api.out, new RegExp(`api of ${app}`));
    }
  });

  test("app alpha's container cannot reach app beta's container, by name or by address", async () => {
    const own = await exec('alpha', 'web', get('http://vault:8080/'));
    assert.match(own.out, /vault of alpha/, "the name vault is its own app's");
    const filters = encodeURIComponent(JSON.stringify({ label: ['berth.app=beta', 'berth.service=vault'] }));
    const [beta] = await dockerd.engine.call<{ Names: string[] }[]>('GET', `/containers/json?filters=${filters}`);
    const name = beta?.Names[0]?.replace(/^\//, '') ?? '';
    assert.match(name, /beta-production-vault/);
    const byName = await exec('alpha', 'web', get(`http://${name}:8080/`));
    assert.notEqual(byName.code, 0, byName.out);
    assert.doesNotMatch(byName.out, /vault of beta/);
    const betaVault = await ipOf('beta', 'vault');
    assert.notEqual(betaVault, await ipOf('alpha', 'vault'));
    const byIp = await exec('alpha', 'web', get(`http://${betaVault}:8080/`));
    assert.notEqual(byIp.code, 0, `beta's vault at ${betaVault} answered alpha: ${byIp.out}`);
    assert.doesNotMatch(byIp.out, /vault of beta/);
  });

  test("app alpha's container cannot use app beta's service addresses on beta's gateway", async () => {
    const betaApi = await envOf('beta', 'web', 'API_URL');
    assert.match(betaApi, /^http:\/\/10\.213\.\d+\.\d+:\d+$/);
    const own = await exec('beta', 'web', get(`${betaApi}/`));
    assert.match(own.out, /api of beta/, 'beta reaches it');
    const other = await exec('alpha', 'web', get(`${betaApi}/`));
    assert.notEqual(other.code, 0, other.out);
    assert.doesNotMatch(other.out, /api of beta/);
  });

  test('a volume whose directory in $DATA_DIR is a link is refused: the engine never mounts what it points at', async () => {
    const data = path.join(home.home, 'data', 'linked', 'production');
    mkdirSync(data, { recursive: true });
    symlinkSync('/etc', path.join(data, 'files'));
    const box = `app: linked\nservices:\n  box:\n    image: berth-test/iso:1\n    container_port: 8080\n    volumes: { /data: files }\n`;
    const r = await home.cli('deploy', home.app('linked', box));
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, /volume files: .*files is not a directory \(a link\?\)/);
    const filters = encodeURIComponent(JSON.stringify({ label: ['berth.app=linked'] }));
    assert.deepEqual(await dockerd.engine.call<unknown[]>('GET', `/containers/json?all=true&filters=${filters}`), []);
  });
}
