/**
 * bench/manifest: what a big upload costs berthd (issue 13, item 2). A real berthd (started
 * by the CLI, so with its own Node flags, and BERTH_EVENT_LOOP_STATS=1) serves the API over
 * TCP; each upload is sent while another user asks GET /v1/me over and over. The table shows
 * the upload's answer and wall time, berthd's CPU time for it (all threads, and its main
 * thread alone, from /proc), the longest time berthd's event loop was held meanwhile (as
 * berthd measured it), and how long the other caller waited (median, longest).
 * Target: a 1 MiB manifest holds the loop < 100 ms. Run: `npm run build && node dist/bench/manifest.js`
 * (in a network namespace of its own when other things use ports: `unshare --net --fork`, `ip link set lo up`);
 * BENCH_ONLY=<text> runs only the uploads whose name has that text.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../src/api/client.js';
import { envNote, hostEnv, machine, percentile, table } from './lib.js';

const REPO = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
const BIN = path.join(REPO, 'bin', 'berth.js');
const PORT = 18762;
const BASE = `http://127.0.0.1:${PORT}`;
const PASSWORD = 'correct horse battery staple';
const work = mkdtempSync(path.join(tmpdir(), 'berth-bench-manifest-'));
const env = {
  ...hostEnv({}),
  BERTH_HOME: path.join(work, 'home'),
  BERTH_PORT_RANGE: '27000-27099',
  BERTH_HTTP_PORT: '18763',
  BERTH_HTTP_ADDRESS: '127.0.0.1',
  BERTH_API_LISTEN: `127.0.0.1:${PORT}`,
  BERTH_APP_USERS: '0',
  BERTH_EVENT_LOOP_STATS: '1',
};

function berth(args: string[]): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile(BIN, args, { env }, (err, out, errOut) => (err ? reject(new Error(errOut || out)) : resolve())),
  );
}

/** utime + stime of a process (all its threads), or of its main thread alone, in ms. */
function cpuMs(pid: number, mainThread = false): number {
  const stat = mainThread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`;
  const fields = readFileSync(stat, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // USER_HZ is 100 on Linux
}

async function login(name: string): Promise<string> {
  const r = await fetch(`${BASE}/v1/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, password: PASSWORD }),
  });
  return ((await r.json()) as { token: string }).token;
}

/** Uploads `manifest` as `token` while `prober` asks GET /v1/me in a loop; the probes' latencies. */
async function measure(root: ApiClient, pid: number, token: string, prober: string, manifest: string) {
  const body = JSON.stringify({
    files: [{ path: 'berth.yaml', data: Buffer.from(manifest).toString('base64') }],
    org: 'acme',
  });
  const cpu0 = cpuMs(pid);
  const main0 = cpuMs(pid, true);
  await root.call('POST', '/v1/daemon/event-loop'); // a new window
  const t0 = performance.now();
  const state = { done: false };
  const upload = fetch(`${BASE}/v1/uploads/deployments`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body,
  })
    .then(async (r) => ({ status: r.status, body: (await r.json()) as { error?: { code: string } } }))
    .finally(() => (state.done = true));
  const waits: number[] = [];
  while (!state.done) {
    const p0 = performance.now();
    await fetch(`${BASE}/v1/me`, { headers: { authorization: `Bearer ${prober}` } }).then((r) => r.arrayBuffer());
    waits.push(performance.now() - p0);
  }
  const r = await upload;
  const ms = performance.now() - t0;
  const loop = await root.call<{ maxMs: number }>('POST', '/v1/daemon/event-loop');
  return {
    ms,
    cpu: cpuMs(pid) - cpu0,
    mainCpu: cpuMs(pid, true) - main0,
    loopMax: loop.maxMs,
    waits,
    answer: `${r.status} ${r.body.error?.code ?? ''}`.trim(),
  };
}

const services = (n: number, each = '', run = '["true"]') =>
  Array.from({ length: n }, (_, i) => `  s${i}:\n    run: ${run}\n    port: none\n${each}`).join('');
const flat = (n: number) => Array.from({ length: n }, (_, i) => `  s${i}: { run: x }\n`).join('');
const vars = Array.from({ length: 5500 }, (_, i) => `      V${i}: "${'v'.repeat(30)}"\n`).join('');
const routed =
  '    port: auto\n    routes: [{ host: wide.example.com, path: /x/ }]\n    health: { http: /healthz, interval: 5s }\n';
/** Valid to its last line, which names an unknown service: read whole, never deployed. */
const last = '  last:\n    run: ["true"]\n    depends_on: [nowhere]\n';
const cases: Array<[string, string, 'member' | 'loner']> = [
  [
    '1 MiB: 4 services x 5,500 variables, member',
    `app: heavy\nservices:\n${services(4, `    env:\n${vars}`)}${last}`,
    'member',
  ],
  ['200 services (a big real one), member', `app: wide\nservices:\n${services(199)}${last}`, 'member'],
  ['200 services with routes and health, member', `app: wide\nservices:\n${services(199, routed)}${last}`, 'member'],
  ['20,000 services (~400 KB), member', `app: huge\nservices:\n${flat(20_000)}`, 'member'],
  ['20,000 services (~400 KB), user in no organisation', `app: huge\nservices:\n${flat(20_000)}`, 'loner'],
  // Last: its instances run on (and are watched) until the end.
  [
    '1 MiB: 4 services x 5,500 variables, deployed',
    `app: heavy\nservices:\n${services(4, `    env:\n${vars}`, '["sleep", "600"]')}`,
    'member',
  ],
];

try {
  await berth(['daemon', 'start']);
  const s = new ApiClient(path.join(env.BERTH_HOME, 'berthd.sock'));
  const pid = (await s.call<{ pid: number }>('GET', '/v1/daemon')).pid;
  await s.call('POST', '/v1/orgs', { name: 'acme' });
  await s.call('POST', '/v1/admin/users', { name: 'member', password: PASSWORD, org: 'acme', role: 'member' });
  await s.call('POST', '/v1/admin/users', { name: 'viewer', password: PASSWORD, org: 'acme', role: 'viewer' });
  await s.call('POST', '/v1/admin/users', { name: 'loner', password: PASSWORD });
  const tokens = { member: await login('member'), loner: await login('loner') };
  const prober = await login('viewer');
  // Warm up: the first upload starts the manifest thread.
  await measure(s, pid, tokens.member, prober, `app: warm\nservices:\n${last}`);
  const rows: string[][] = [];
  for (const [what, manifest, who] of cases.filter(([what]) => what.includes(process.env.BENCH_ONLY ?? ''))) {
    const m = await measure(s, pid, tokens[who], prober, manifest);
    rows.push([
      what,
      `${(Buffer.byteLength(manifest) / 1024).toFixed(0)} KiB`,
      m.answer,
      m.ms.toFixed(0),
      m.cpu.toFixed(0),
      m.mainCpu.toFixed(0),
      m.loopMax.toFixed(0),
      String(m.waits.length),
      m.waits.length ? percentile(m.waits, 50).toFixed(1) : '-',
      m.waits.length ? Math.max(...m.waits).toFixed(1) : '-',
    ]);
  }
  console.log(
    `${new Date().toISOString().slice(0, 10)}, ${machine()}${envNote()}, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}\n`,
  );
  const headers = ['upload', 'size', 'answer', 'wall ms', 'berthd CPU ms', 'main thread CPU ms', 'loop held max ms'];
  console.log(table([...headers, 'others answered', 'their p50 ms', 'their max ms'], rows));
  const heldMiB = Math.max(...rows.filter((r) => r[0]?.startsWith('1 MiB')).map((r) => Number(r[6])));
  const worst = Math.max(...rows.map((r) => Number(r[9]) || 0));
  console.log(
    `\n1 MiB manifest: berthd's event loop held at most ${heldMiB} ms; target < 100 ms: ${heldMiB < 100 ? 'met' : 'NOT met'}` +
      `\nlongest wait of another caller (any upload): ${worst.toFixed(1)} ms`,
  );
} finally {
  await berth(['rm', 'heavy']).catch(() => undefined);
  await berth(['proxy', 'stop']).catch(() => undefined); // it outlives berthd, and the next run wants its port
  await berth(['daemon', 'stop']).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
}
