import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { userInfo } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { procFiles, scanHost, type ProcFiles } from '../src/doctor/host-scan.js';
import { listeningSockets } from '../src/runtime/listen-table.js';
import { spawner } from '../src/runtime/spawner.js';
import { procStat } from '../src/system/proc.js';
import { listeners } from '../src/system/sockets.js';
import { hit } from './helpers/http.js';
import { NODE, REPO, waitFor } from './helpers/home.js';

// Ports 28900-28999: instances on 28900.., a foreign listener on 28990, an unrelated one on 28991.
const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
const PREFIX = 'feedc0ffee12';
const INSTANCES = 8;
const FOREIGN = 28990;
const UNRELATED = 28991;
const started: ChildProcess[] = [];

function serve(port: number, marker?: string): ChildProcess {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, PORT: String(port) };
  if (marker) env.BERTH_INSTANCE = marker;
  const child = spawn(NODE, [SERVER], { env, stdio: 'ignore' });
  started.push(child);
  return child;
}

before(async () => {
  for (let i = 0; i < INSTANCES; i++) serve(28900 + i, `${PREFIX}:${i + 1}`);
  serve(FOREIGN);
  serve(UNRELATED);
  for (const port of [...Array.from({ length: INSTANCES }, (_, i) => 28900 + i), FOREIGN, UNRELATED])
    await waitFor(`port ${port} to listen`, () =>
      hit(port, 'x', '/').then(
        () => true,
        () => false,
      ),
    );
});
after(() => started.forEach((c) => c.kill()));

/** The real /proc, with every read counted by path. */
function counted(): { files: ProcFiles; reads: Map<string, number>; lists: Map<string, number> } {
  const reads = new Map<string, number>();
  const lists = new Map<string, number>();
  const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
  return {
    reads,
    lists,
    files: {
      pids: () => procFiles.pids(),
      read: (f) => (bump(reads, f), procFiles.read(f)),
      list: (d) => (bump(lists, d), procFiles.list(d)),
      link: (f) => procFiles.link(f),
    },
  };
}

const ours = () => started.slice(0, INSTANCES).map((c) => c.pid as number);

test('one look at /proc per doctor run: each file once, sockets only of our processes when they hold every port asked', () => {
  const { files, reads, lists } = counted();
  const ports = new Set(ours().map((_, i) => 28900 + i));
  const scan = scanHost({ markerPrefix: PREFIX, ports, pids: ours() }, files);
  ours().forEach((pid, i) => {
    assert.deepEqual(
      scan.listening.get(28900 + i)?.map((p) => [p.pid, p.marker]),
      [[pid, `${PREFIX}:${i + 1}`]],
    );
    assert.equal(scan.startTicks.get(pid), procStat(pid)?.startTicks);
  });
  assert.deepEqual(new Set(scan.marked.map((p) => p.pid)), new Set(ours()));
  assert.ok(scan.listeningPorts.has(UNRELATED) && scan.listeningPorts.has(FOREIGN));
  assert.equal(scan.listening.has(UNRELATED), false, 'ports nobody asked about are not attributed');
  const twice = [...reads].filter(([, n]) => n > 1);
  assert.deepEqual(twice, [], 'no file is read twice');
  assert.equal(reads.get('/proc/net/tcp'), 1);
  assert.equal(reads.get('/proc/net/tcp6'), 1);
  assert.ok(reads.has(`/proc/${started[INSTANCES]?.pid}/environ`), "every process's marker is read");
  assert.deepEqual(
    new Set(lists.keys()),
    new Set(ours().map((pid) => `/proc/${pid}/fd`)),
    'the sockets of our own processes only',
  );
});

test('a foreign listener on a port asked about is found with its pid, user and command', () => {
  const { files, reads, lists } = counted();
  const foreign = started[INSTANCES] as ChildProcess;
  const scan = scanHost({ markerPrefix: PREFIX, ports: new Set([28900, FOREIGN]), pids: [] }, files);
  const [holder, ...rest] = scan.listening.get(FOREIGN) ?? [];
  assert.deepEqual(rest, []);
  assert.ok(holder);
  assert.equal(holder.pid, foreign.pid);
  assert.equal(holder.marker, undefined);
  assert.equal(holder.command, `${NODE} ${SERVER}`);
  assert.equal(holder.user, userInfo().username);
  assert.ok(lists.has(`/proc/${foreign.pid}/fd`), 'every process is looked at when ours do not hold it');
  assert.deepEqual(
    [...reads].filter(([, n]) => n > 1),
    [],
    'still no file read twice',
  );
});

test("a deploy's pre-flight (one app) reads the markers of the ports' holders only, and finds the same holders", () => {
  const { files, reads } = counted();
  const foreign = started[INSTANCES] as ChildProcess;
  const ports = new Set([28900, 28901, FOREIGN]);
  const whole = scanHost({ markerPrefix: PREFIX, ports, pids: ours() }, procFiles);
  const scan = scanHost({ markerPrefix: PREFIX, ports, pids: ours(), holdersOnly: true }, files);
  const holders = (s: typeof scan) => [...s.listening].map(([port, ps]) => [port, ps.map((p) => [p.pid, p.marker])]);
  assert.deepEqual(holders(scan), holders(whole));
  assert.deepEqual(scan.listening.get(28901)?.[0]?.marker, `${PREFIX}:2`);
  assert.deepEqual(scan.marked, [], 'no leftovers looked for');
  const environs = [...reads.keys()].filter((f) => f.endsWith('/environ'));
  assert.deepEqual(
    new Set(environs),
    new Set([ours()[0], ours()[1], foreign.pid].map((pid) => `/proc/${pid}/environ`)),
    'the environ of the holders, of no other process',
  );
});

test(
  "the launcher's listen table (sock_diag) is /proc/net/tcp and tcp6's listeners, and a scan with it reads neither",
  {
    timeout: 20_000,
  },
  async () => {
    const line = await spawner.listenTable();
    assert.match(line ?? '', /^L 0( \d,[0-9A-F.]+,\d+,\d+)+$/, 'the launcher answers with a table');
    const key = (l: { address: string; port: number; inode: string; state: string }) =>
      `${l.address} ${l.port} ${l.inode} ${l.state}`;
    // The same sockets, addresses as /proc's. Other test files open and close listeners meanwhile: compared when /proc
    // read the same just before and just after the launcher's table (up to 50 tries).
    const same = (a: Set<string>, b: Set<string>) => a.size === b.size && [...a].every((k) => b.has(k));
    let compared = false;
    for (let i = 0; i < 50 && !compared; i++) {
      const before = new Set(listeners().map(key));
      const table = new Set((await listeningSockets()).map(key));
      if (!same(before, new Set(listeners().map(key)))) continue;
      assert.deepEqual(table, before);
      compared = true;
    }
    assert.ok(compared, 'the listeners held still long enough to compare once');
    const { files, reads } = counted();
    const ports = new Set([28900, 28901, FOREIGN]);
    const whole = scanHost({ markerPrefix: PREFIX, ports, pids: ours() }, procFiles);
    const scan = scanHost(
      { markerPrefix: PREFIX, ports, pids: ours(), holdersOnly: true, listening: await listeningSockets() },
      files,
    );
    const holders = (s: typeof scan) => [...s.listening].map(([port, ps]) => [port, ps.map((p) => [p.pid, p.marker])]);
    assert.deepEqual(holders(scan), holders(whole));
    assert.deepEqual(
      [...reads.keys()].filter((f) => f.startsWith('/proc/net/')),
      [],
      'no read of the socket tables',
    );
  },
);
