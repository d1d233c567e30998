import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { inSubnet } from '../src/proxy/builtin/gateway-listener.js';
import { parseTable } from '../src/proxy/route-table.js';
import type { Finding } from '../src/doctor/finding.js';
import { TestDockerd } from './helpers/dockerd.js';
import { mixedStack } from './helpers/mixed-stack.js';

/** Processes and containers in one manifest on a private dockerd (test/containers-mixed-podman: on Podman). */
const home = mixedStack(new TestDockerd(mkdtempSync(path.join(tmpdir(), 'berth-dockerd-'))), '32200-32299');

test('doctor says when the engine writes no firewall rules: apps are apart only while the host forwards nothing', async () => {
  // This file's dockerd runs with --iptables=false (helpers/dockerd.ts); test/container-isolation's, with: no finding there.
  const doctor = await home.cli('doctor', '--json');
  const found = (JSON.parse(doctor.stdout) as { findings: Finding[] }).findings.filter(
    (f) => f.code === 'container_isolation',
  );
  const forwarding = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim() === '1';
  assert.equal(found.length, 1, doctor.stdout);
  const [finding] = found as [Finding];
  assert.equal(finding.severity, forwarding ? 'warning' : 'info');
  assert.match(finding.message, /the container engine writes no firewall rules \(no DOCKER-USER chain\)/);
  assert.match(finding.fix ?? '', /iptables: true/);
});

test('a gateway listener is only ever on a network gateway, for that subnet: never 0.0.0.0, loopback or "everyone"', () => {
  const entry = (network: unknown) => ({
    version: 1,
    routes: [],
    listeners: [{ port: 32290, app: 'a', env: 'production', release: 1, service: 'api', upstreams: [], network }],
  });
  assert.doesNotThrow(() => parseTable(entry({ gateway: '10.213.16.1', subnet: '10.213.16.0/28' })));
  for (const bad of [
    { gateway: '0.0.0.0', subnet: '0.0.0.0/0' },
    { gateway: '10.0.0.1', subnet: '0.0.0.0/0' },
    { gateway: '127.0.0.1', subnet: '127.0.0.0/8' },
    { gateway: '10.213.17.1', subnet: '10.213.16.0/28' },
    { gateway: '::', subnet: '::/0' },
    { gateway: '10.213.16.1' },
  ])
    assert.throws(() => parseTable(entry(bad)), /bad listener entry/, JSON.stringify(bad));
  assert.equal(inSubnet('10.213.16.14', '10.213.16.0/28'), true);
  assert.equal(inSubnet('::ffff:10.213.16.2', '10.213.16.0/28'), true);
  assert.equal(inSubnet('10.213.16.17', '10.213.16.0/28'), false, 'the next network');
  assert.equal(inSubnet('127.0.0.1', '10.213.16.0/28'), false);
  assert.equal(inSubnet(undefined, '10.213.16.0/28'), false);
});
