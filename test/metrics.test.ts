import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ApiClient } from '../src/api/client.js';
import { exposition } from '../src/metrics/exposition.js';
import { getJson, hit } from './helpers/http.js';
import { assertOk, BIN, NODE, REPO, TestHome, waitFor } from './helpers/home.js';

/**
 * GET /metrics scraped by a real Prometheus (Debian's) over TCP with a metrics token, its text checked
 * by promtool's parser; `berth top --json` against a service doing real work, and the live view under tmux.
 */
const home = new TestHome('28000-28099');
const API = 28150;
const PROM = 28151;
Object.assign(home.env, { BERTH_API_LISTEN: `127.0.0.1:${API}` });
const socket = () => new ApiClient(path.join(home.home, 'berthd.sock'));
// Each GET /work burns 60 ms of CPU (measured, not wall time: the machine may be loaded); the process holds 64 MiB resident.
const WORKER = `import { createServer } from 'node:http';
const hold = Buffer.alloc(64 * 1024 * 1024, 7);
createServer((req, res) => {
  if (req.url === '/work') {
    const t = process.cpuUsage();
    for (let u = process.cpuUsage(t); u.user + u.system < 60000; u = process.cpuUsage(t));
    return res.end('done ' + hold[5]);
  }
  res.statusCode = req.url === '/nope' ? 404 : 200;
  res.end('ok');
}).listen(Number(process.env.PORT), '127.0.0.1');
`;
let prometheus: ChildProcess | undefined;
let token = '';
const tmux = (...args: string[]) =>
  spawnSync('tmux', ['-L', `berth-metrics-${process.pid}`, ...args], { encoding: 'utf8', env: home.env });

before(async () => {
  assertOk(await home.cli('daemon', 'start'));
  const dir = home.app(
    'shop',
    `app: shop\nservices:\n  web:\n    run: ["${NODE}", "worker.mjs"]\n    routes: [shop.test]\n`,
    { 'worker.mjs': WORKER },
  );
  assertOk(await home.cli('deploy', dir));
  const broken = home.app(
    'broken',
    `app: broken\nservices:\n  web:\n    run: ["${NODE}", "-e", "process.exit(3)"]\n    routes: [broken.test]\n`,
  );
  assert.notEqual((await home.cli('deploy', broken)).code, 0, 'a deploy that fails');
});
after(async () => {
  prometheus?.kill('SIGTERM');
  tmux('kill-server');
  await home.cleanup();
});

async function scrape(token: string | undefined): Promise<{ status: number; text: string; type: string }> {
  const res = await fetch(`http://127.0.0.1:${API}/metrics`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return { status: res.status, text: await res.text(), type: res.headers.get('content-type') ?? '' };
}

/** promtool's parser (the one Prometheus scrapes with) over the text: exit 0 and no lint problem. */
function promtoolCheck(text: string): string {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return r.status === 0 ? '' : `promtool exit ${r.status}: ${r.stdout}${r.stderr}`;
}

const value = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

test('GET /metrics: a metrics token over TCP, promtool parses it, a real Prometheus scrapes it', async () => {
  for (let i = 0; i < 5; i++) assert.equal((await hit(home.httpPort, 'shop.test', '/work')).status, 200);
  for (let i = 0; i < 2; i++) assert.equal((await hit(home.httpPort, 'shop.test', '/nope')).status, 404);
  assertOk(await home.cli('doctor', '--json'), 'doctor'); // host-wide: its findings are cached for /metrics

  assert.equal((await scrape(undefined)).status, 401, 'anonymous');
  const made = await home.cli('metrics', 'token', 'prometheus', '--json');
  assertOk(made);
  token = (JSON.parse(made.stdout) as { token: string }).token;
  assert.equal(
    (await fetch(`http://127.0.0.1:${API}/v1/apps`, { headers: { authorization: `Bearer ${token}` } })).status,
    403,
    'a metrics token reads /metrics only',
  );
  const m = await scrape(token);
  assert.equal(m.status, 200, m.text);
  assert.match(m.type, /^text\/plain; version=0\.0\.4/);
  assert.equal(promtoolCheck(m.text), '');
  const web = 'app="shop",env="production",service="web"';
  assert.equal(value(m.text, `berth_instances{${web},state="healthy"}`), 1);
  const route = `${web},host="shop.test",path="/"`;
  assert.equal(value(m.text, `berth_http_requests_total{${route},code="2xx"}`), 5);
  assert.equal(value(m.text, `berth_http_requests_total{${route},code="4xx"}`), 2);
  assert.equal(value(m.text, `berth_http_request_duration_seconds_count{${route}}`), 7);
  assert.ok(
    value(m.text, `berth_http_request_duration_seconds_bucket{${route},le="0.05"}`)! <= 2,
    'the 60 ms requests are above 50 ms',
  );
  const inst = m.text.split('\n').filter((l) => l.startsWith(`berth_instance_cpu_seconds_total{${web},index="0"`));
  assert.equal(inst.length, 1, m.text);
  assert.ok(Number(inst[0]!.split(' ')[1]) >= 0.3, `5 x 60 ms of CPU at least: ${inst[0]}`);
  const rss = m.text.split('\n').find((l) => l.startsWith(`berth_instance_resident_memory_bytes{${web}`));
  assert.ok(Number(rss?.split(' ')[1]) >= 64 * 1024 * 1024, `64 MiB resident: ${rss}`);
  assert.equal(value(m.text, 'berth_deploys_total{app="shop",env="production",status="succeeded"}'), 1);
  assert.equal(value(m.text, 'berth_deploys_total{app="broken",env="production",status="failed"}'), 1);
  assert.equal(value(m.text, 'berth_deploy_duration_seconds_count{app="shop",env="production",status="succeeded"}'), 1);
  assert.match(m.text, /^berth_doctor_findings\{severity="error"\} \d+$/m);
  assert.doesNotMatch(m.text, /berthm_/, 'no token in the exposition');

  // Escaping, through the same parser: a quote, a backslash and a line feed in a label value.
  const odd = exposition({
    at: 0,
    instances: [{ app: 'a"b\\c\nd', env: 'e', service: 's', idx: 0, release: 1, state: 'healthy', restarts: 0 }],
    routes: [],
    oomKills: [],
  });
  assert.match(odd, /app="a\\"b\\\\c\\nd"/);
  assert.equal(promtoolCheck(odd), '');

  const dir = path.join(home.root, 'prometheus');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'token'), token, { mode: 0o600 });
  writeFileSync(
    path.join(dir, 'prometheus.yml'),
    `global: { scrape_interval: 1s, scrape_timeout: 1s }\nscrape_configs:\n  - job_name: berth\n    authorization: { credentials_file: ${path.join(dir, 'token')} }\n    static_configs: [{ targets: ['127.0.0.1:${API}'] }]\n`,
  );
  prometheus = spawn(
    'prometheus',
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${PROM}`,
    ],
    { stdio: 'ignore' },
  );
  const query = async (q: string) => {
    const res = await fetch(`http://127.0.0.1:${PROM}/api/v1/query?query=${encodeURIComponent(q)}`);
    const body = (await res.json()) as { data: { result: Array<{ value: [number, string] }> } };
    return body.data.result.map((r) => Number(r.value[1]));
  };
  const up = await waitFor(
    'Prometheus scraping berthd',
    async () => {
      const r = await fetch(`http://127.0.0.1:${PROM}/api/v1/targets`).catch(() => undefined);
      const t = (
        (await r?.json()) as { data: { activeTargets: Array<{ health: string; lastError: string }> } } | undefined
      )?.data.activeTargets[0];
      return t && t.health !== 'unknown' ? t : undefined;
    },
    30_000,
    200,
  );
  assert.deepEqual([up.health, up.lastError], ['up', '']);
  assert.deepEqual(await query(`sum(berth_http_requests_total{app="shop",code="2xx"})`), [5]);
  assert.deepEqual(await query(`berth_instances{app="shop",state="healthy"}`), [1]);
});

test('berth top --json: CPU, memory, restarts, req/s and p95 of a service doing real work', async () => {
  const [before] = (await socket().call<Array<{ pid: number }>>('GET', '/v1/apps/shop/instances')) as Array<{
    pid: number;
  }>;
  process.kill(before!.pid, 'SIGKILL'); // one restart
  await waitFor('shop restarted and healthy', async () => {
    const r = await hit(home.httpPort, 'shop.test', '/').catch(() => undefined);
    return r?.status === 200 ? true : undefined;
  });
  const load = { on: true };
  let sent = 0;
  const started = Date.now();
  const loop = (async () => {
    while (load.on) if ((await hit(home.httpPort, 'shop.test', '/work')).status === 200) sent++;
  })();
  const r = await home.cli('top', 'shop', '--json', '--interval', '3');
  const wall = (Date.now() - started) / 1000;
  load.on = false;
  await loop;
  assertOk(r, 'top --json');
  const out = JSON.parse(r.stdout) as { seconds: number; services: Array<Record<string, number | string | null>> };
  assert.equal(out.services.length, 1, r.stdout);
  const s = out.services[0]!;
  const rate = sent / wall; // the client's own count, over a slightly longer window than top's
  assert.equal(s.service, 'web');
  assert.equal(s.restarts, 1);
  assert.equal(s.running, 1);
  assert.ok(
    Math.abs((s.reqPerSec as number) - rate) <= rate * 0.4 + 1,
    `req/s ${s.reqPerSec} vs the client's ${rate.toFixed(1)}`,
  );
  // Each request burns 60 ms of CPU: ~6 % of a core per request a second.
  assert.ok(
    (s.cpuPercent as number) >= (s.reqPerSec as number) * 6 * 0.5,
    `CPU ${s.cpuPercent} % for ${s.reqPerSec} req/s`,
  );
  assert.ok((s.rssBytes as number) >= 64 * 1024 * 1024, `memory ${s.rssBytes}`);
  assert.ok((s.p95Ms as number) >= 50 && (s.p95Ms as number) <= 10_000, `p95 ${s.p95Ms} ms`);
});

test('berth top: a live view under tmux, in place on the alternate screen, resized, q quits', async () => {
  const env = ['BERTH_HOME', 'BERTH_PORT_RANGE', 'BERTH_HTTP_PORT', 'BERTH_APP_USERS'].map(
    (k) => `${k}=${home.env[k]}`,
  );
  const started = tmux(
    'new-session',
    '-d',
    '-s',
    'top',
    '-x',
    '100',
    '-y',
    '20',
    'env',
    ...env,
    NODE,
    BIN,
    'top',
    '--interval',
    '0.5',
  );
  assert.equal(started.status, 0, started.stderr);
  const pane = () => tmux('capture-pane', '-p', '-t', 'top').stdout;
  const first = await waitFor('top drawn', () => (/web/.test(pane()) ? pane() : undefined), 15_000, 100);
  assert.match(first, /^berth top {2}\d\d:\d\d:\d\dZ/m);
  assert.match(first, /APP\s+SERVICE\s+UP\s+CPU\s+MEM\s+RESTARTS\s+REQ\/S\s+P95/);
  assert.match(first, /shop\s+web\s+1\/1/);
  assert.equal(tmux('display', '-p', '-t', 'top', '#{alternate_on}').stdout.trim(), '1', 'on the alternate screen');
  const clock = /(\d\d:\d\d:\d\d)Z/.exec(first)![1];
  const later = await waitFor(
    'a new frame',
    () => {
      const p = pane();
      return /(\d\d:\d\d:\d\d)Z/.exec(p)?.[1] !== clock ? p : undefined;
    },
    10_000,
    100,
  );
  assert.equal(later.match(/berth top/g)?.length, 1, 'redrawn in place, not scrolled');
  assert.equal(tmux('resize-window', '-t', 'top', '-x', '40', '-y', '6').status, 0);
  const small = await waitFor(
    'redrawn for 40 columns',
    () => {
      const lines = pane()
        .split('\n')
        .filter((l) => l.trim());
      return lines[0]?.startsWith('berth top') && lines.every((l) => l.length <= 40) && lines[1]?.startsWith('APP')
        ? lines
        : undefined;
    },
    10_000,
    100,
  );
  assert.ok(small.length <= 6);
  tmux('send-keys', '-t', 'top', 'q');
  await waitFor('top quit on q', () => (tmux('has-session', '-t', 'top').status !== 0 ? true : undefined), 10_000, 100);
});

test(
  'GET /metrics: an OOM kill counted, the age of the last verified backup',
  { skip: !existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes') && 'no cgroup v1 memory hierarchy here' },
  async () => {
    const hog = path.join(REPO, 'test', 'fixtures', 'limits-app.py'); // GET /hog allocates HOG_MB MiB
    const web = `services:\n  web:\n    run: ["python3", "${hog}"]\n    restart: never\n`;
    const dir = home.app('hog', `app: hog\n${web}    resources: { memory: 48M }\n    env: { HOG_MB: 200 }\n`);
    assertOk(await home.cli('deploy', dir));
    const [inst] = await home.json<Array<{ port: number }>>('ps', 'hog');
    await getJson(inst!.port, '/hog').catch(() => undefined); // the kernel kills it mid-request
    const series = 'berth_oom_kills_total{app="hog",env="production",service="web"}';
    await waitFor('the OOM kill counted', async () => value((await scrape(token)).text, series) === 1);

    assertOk(await home.cli('deploy', home.app('kept', `app: kept\n${web}backup: { to: local }\n`)));
    const ran = await home.cli('backup', 'run', 'kept', '--json');
    assertOk(ran, 'backup run');
    assert.equal((JSON.parse(ran.stdout) as { status: string }).status, 'verified');
    const m = await scrape(token);
    const age = value(m.text, 'berth_backup_last_success_age_seconds{app="kept",env="production"}');
    assert.ok(age !== undefined && age >= 0 && age < 600, `the backup's age: ${age}\n${m.text}`);
    assert.equal(value(m.text, 'berth_backup_last_success_age_seconds{app="hog",env="production"}'), undefined);
    assert.equal(promtoolCheck(m.text), '');
  },
);
