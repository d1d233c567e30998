/**
 * The test files run three at a time, each on fixed ports: a TestHome's port range, the proxy port
 * it derives from the range's hundreds (18000 + hundreds % 100) unless the file pins another, and
 * the fixed ports a file keeps for its own servers. Two files sharing one of them fail only when
 * they happen to run at the same time, so this reads every test file and checks the plan as a whole.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO } from './helpers/home.js';

interface FilePorts {
  file: string;
  ranges: [number, number][];
  proxyPorts: number[];
  fixed: number[];
}

const EPHEMERAL_START = 32768;

function read(file: string): FilePorts {
  const text = readFileSync(path.join(REPO, 'test', file), 'utf8');
  const ranges = [...text.matchAll(/(?:new TestHome\(|range: )'(\d+)-(\d+)'/g)].map(
    (m) => [Number(m[1]), Number(m[2])] as [number, number],
  );
  const constants = new Map([...text.matchAll(/const ([A-Z_]+) = (\d{4,5});/g)].map((m) => [m[1]!, Number(m[2])]));
  const pinned = /BERTH_HTTP_PORT = String\(([A-Z_]+)\)/.exec(text)?.[1];
  const proxyPorts = pinned
    ? [constants.get(pinned) ?? NaN]
    : ranges.map(([start]) => 18000 + (Math.floor(start / 100) % 100));
  const fixed = [...constants].filter(([name]) => name !== pinned && /PORT$/.test(name)).map(([, port]) => port);
  fixed.push(...[...text.matchAll(/https: (\d{4,5})/g)].map((m) => Number(m[1])));
  return { file, ranges, proxyPorts, fixed };
}

test('no two test files share a port: ranges apart, one proxy port each, fixed ports outside both', () => {
  const files = readdirSync(path.join(REPO, 'test'))
    .filter((f) => f.endsWith('.test.ts'))
    .map(read);
  assert.ok(files.filter((f) => f.ranges.length > 0).length > 40, 'the ranges were found in the test files');
  const owners = new Map<number, string>();
  const problems: string[] = [];
  const claim = (port: number, what: string) => {
    if (!Number.isInteger(port)) problems.push(`${what}: not a port the plan can read`);
    if (port >= EPHEMERAL_START) problems.push(`${what}: ${port} is in the kernel's ephemeral range`);
    const other = owners.get(port);
    if (other) problems.push(`${what}: port ${port} is also ${other}`);
    else owners.set(port, what);
  };
  for (const f of files) {
    for (const port of new Set(f.proxyPorts)) claim(port, `${f.file}'s proxy port`);
    for (const port of f.fixed) claim(port, `${f.file}'s fixed port`);
  }
  const ranges = files.flatMap((f) => f.ranges.map(([a, b]) => ({ a, b, file: f.file }))).sort((x, y) => x.a - y.a);
  for (let i = 0; i < ranges.length; i++) {
    const r = ranges[i]!;
    if (r.a > r.b || r.b >= EPHEMERAL_START)
      problems.push(`${r.file}: range ${r.a}-${r.b} is not below ${EPHEMERAL_START}`);
    const next = ranges[i + 1];
    if (next && next.a <= r.b) problems.push(`${r.file} (${r.a}-${r.b}) overlaps ${next.file} (${next.a}-${next.b})`);
    for (const [port, owner] of owners)
      if (port >= r.a && port <= r.b) problems.push(`${owner} ${port} is inside ${r.file}'s range ${r.a}-${r.b}`);
  }
  assert.deepEqual(problems, [], 'give each file ports of its own (a free hundred for a TestHome)');
});
