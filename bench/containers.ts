/**
 * bench/containers: Berth's own overhead per deploy of a container service, next to the same app as a
 * process: from the `berth deploy` command's start to traffic switched, minus the app's own start to
 * listening, median of 20 deploys of each, taken in turns (process, container, process, ...) so both
 * see the same machine. The app is the small Node HTTP server of bench/deploy; in the container it is
 * the host's node binary and its libraries in an image FROM scratch (nothing is pulled).
 * "The container's own start" is what `docker run -d -p 127.0.0.1:<port>:8080` costs on the same
 * engine, through the API: create (with the same port binding) and start, until the server accepts
 * on the container's own address.
 * It starts its own dockerd (test/helpers/dockerd.ts), so run it in a network namespace of its own:
 * `npm run build && unshare --net --fork bash -c 'ip link set lo up && node dist/bench/containers.js'`.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestDockerd } from '../test/helpers/dockerd.js';
import {
  cpuMs,
  envNote,
  hostEnv,
  loadAverage,
  machine,
  percentile,
  sleep,
  table,
  timedCommand,
  workDir,
} from './lib.js';

const REPO = path.resolve(process.env.BENCH_REPO ?? fileURLToPath(new URL('../..', import.meta.url)));
const BIN = path.join(REPO, 'bin', 'berth.js');
const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const work = workDir('containers');
const dockerd = new TestDockerd(mkdtempSync(path.join(work, 'dockerd-')));
const env = {
  ...hostEnv({}),
  BERTH_HOME: path.join(work, 'home'),
  BERTH_PORT_RANGE: '26000-26999',
  BERTH_HTTP_PORT: '18751',
  BERTH_HTTP_ADDRESS: '127.0.0.1',
  BERTH_CONTAINER_ENGINE: `unix://${dockerd.socket}`,
};
const SERVER = `import { createServer } from 'node:http';\ncreateServer((q, s) => s.end('v' + process.env.V)).listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');\nprocess.on('SIGTERM', () => process.exit(0));\n`;
const IMAGE = 'berth-bench/node:1';

const berth = (args: string[]) => timedCommand(BIN, args, env);

async function accepts(host: string, port: number): Promise<void> {
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect({ host, port }, () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (ok) return;
    await sleep(1);
  }
}

/** The container's own start: create (published on 127.0.0.1) and start on the engine, until it accepts on its address. */
async function containerReadyMs(network: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  const { Id } = await dockerd.engine.call<{ Id: string }>('POST', '/containers/create', {
    Image: IMAGE,
    Env: ['PORT=8080', 'HOST=0.0.0.0', 'V=0'],
    ExposedPorts: { '8080/tcp': {} },
    HostConfig: { NetworkMode: network, PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '26998' }] } },
  });
  try {
    await dockerd.engine.call('POST', `/containers/${Id}/start`);
    const info = await dockerd.engine.call<{ NetworkSettings: { Networks: Record<string, { IPAddress: string }> } }>(
      'GET',
      `/containers/${Id}/json`,
    );
    await accepts(info.NetworkSettings.Networks[network]?.IPAddress ?? '', 8080);
    return Number(process.hrtime.bigint() - t0) / 1e6;
  } finally {
    await dockerd.engine.call('DELETE', `/containers/${Id}?force=true`);
  }
}

/** The process's own start: spawn node, until it accepts. */
async function processReadyMs(dir: string): Promise<number> {
  const { spawn } = await import('node:child_process');
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, ['server.mjs'], { cwd: dir, env: { PORT: '26999', V: '0' }, stdio: 'ignore' });
  try {
    await accepts('127.0.0.1', 26999);
    return Number(process.hrtime.bigint() - t0) / 1e6;
  } finally {
    const gone = new Promise((r) => child.once('exit', r));
    child.kill();
    await gone;
  }
}

interface Kind {
  name: string;
  dir: string;
  manifest: (v: number) => string;
  ready: () => Promise<number>;
  total: number[];
  toSwitch: number[];
  own: number[];
  cliCpu: number[];
  daemonCpu: number[];
  wave: number[];
}

const kind = (name: string, service: string, extraEnv: string, ready: () => Promise<number>): Kind => {
  const dir = path.join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'server.mjs'), SERVER);
  const manifest = (v: number) =>
    `app: ${name}\nservices:\n  web:\n${service}    env: { ${extraEnv}V: "${v}" }\n    routes: [${name}.test]\n`;
  return { name, dir, manifest, ready, total: [], toSwitch: [], own: [], cliCpu: [], daemonCpu: [], wave: [] };
};

try {
  await dockerd.start();
  await dockerd.buildNodeImage(IMAGE, { 'server.mjs': SERVER }, 'server.mjs');
  await dockerd.engine.call('POST', '/networks/create', { Name: 'bench-ready', Driver: 'bridge' });
  const kinds = [
    kind('process', '    run: [node, server.mjs]\n', '', () => processReadyMs(path.join(work, 'process'))),
    kind('container', `    image: ${IMAGE}\n    container_port: 8080\n`, 'HOST: 0.0.0.0, ', () =>
      containerReadyMs('bench-ready'),
    ),
  ];
  for (const k of kinds) {
    writeFileSync(path.join(k.dir, 'berth.yaml'), k.manifest(0));
    await berth(['deploy', k.dir]); // warm: daemon, proxy, network, first release
  }
  const berthd = Number(readFileSync(path.join(env.BERTH_HOME, 'berthd.pid'), 'utf8').split(' ')[0]);
  const load0 = loadAverage();
  for (let i = 1; i <= RUNS; i++) {
    for (const k of kinds) {
      writeFileSync(path.join(k.dir, 'berth.yaml'), k.manifest(i));
      const daemon0 = cpuMs(berthd);
      const { ms, cpu, out } = await berth(['deploy', k.dir, '--json']);
      k.cliCpu.push(cpu);
      k.daemonCpu.push(cpuMs(berthd) - daemon0);
      const r = JSON.parse(out) as { status: string; steps: Array<{ name: string; ms: number }> };
      if (r.status !== 'succeeded') throw new Error(out);
      const after = r.steps.filter((s) => /^(drain|stop release|prune)/.test(s.name)).reduce((n, s) => n + s.ms, 0);
      k.total.push(ms);
      k.toSwitch.push(ms - after);
      k.wave.push(r.steps.find((s) => s.name.startsWith('start wave'))?.ms ?? NaN);
      k.own.push(await k.ready());
    }
  }
  const p50 = (xs: number[]) => percentile(xs, 50).toFixed(0);
  const row = (label: string, of: (k: Kind) => string) => [label, ...kinds.map(of)];
  console.log(
    `${new Date().toISOString()}, ${machine()}${envNote()}, load average ${load0} -> ${loadAverage()}, ${REPO}, ${RUNS} deploys of each, in turns\n`,
  );
  console.log(
    table(
      ['measure (median of ' + RUNS + ', ms)', ...kinds.map((k) => k.name)],
      [
        row('berth deploy, whole command', (k) => p50(k.total)),
        row('command start to traffic switched', (k) => p50(k.toSwitch)),
        row("the app's own start to listening", (k) => p50(k.own)),
        row("Berth's overhead (switched - own start)", (k) =>
          (percentile(k.toSwitch, 50) - percentile(k.own, 50)).toFixed(0),
        ),
        row('step "start wave 1: web"', (k) => p50(k.wave)),
        row('CPU of the `berth deploy` process', (k) => p50(k.cliCpu)),
        row("berthd's CPU per deploy", (k) => p50(k.daemonCpu)),
      ],
    ),
  );
} finally {
  for (const name of ['process', 'container']) await berth(['rm', name, '--purge']).catch(() => undefined);
  await berth(['proxy', 'stop']).catch(() => undefined);
  await berth(['daemon', 'stop']).catch(() => undefined);
  await dockerd.remove();
  rmSync(work, { recursive: true, force: true });
}
