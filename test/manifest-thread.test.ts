import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadHostSettings } from '../src/config/host-settings.js';
import { ManifestError, parseManifest } from '../src/config/manifest.js';
import { ManifestThread } from '../src/config/manifest-thread.js';

/** berthd's manifest reader: the same answers as `parseManifest`, from a worker thread for big manifests. */
const services = (n: number, tail = '') =>
  `app: big\nservices:\n${Array.from({ length: n }, (_, i) => `  s${i}:\n    run: ["node", "s${i}.js"]\n    port: none\n`).join('')}${tail}`;

test('a big manifest parsed in the thread equals parseManifest, frozen; its problems come back as a ManifestError', async () => {
  const thread = new ManifestThread({ maxServices: 200 });
  try {
    const text = services(190);
    assert.ok(text.length > 8 * 1024, 'big enough to go to the thread');
    const m = await thread.parse(text, 'berth.yaml');
    assert.deepEqual(m, parseManifest(text, 'berth.yaml'));
    assert.ok(Object.isFrozen(m) && Object.isFrozen(m.services[0]));
    const bad = services(150, '  last:\n    run: x\n    depends_on: [nowhere]\n');
    const err = await thread.parse(bad, 'berth.yaml').then(
      () => assert.fail('accepted'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ManifestError);
    assert.match(err.message, /services\.last\.depends_on\.0: unknown service "nowhere"/);
    await assert.rejects(thread.parse(services(201), 'berth.yaml'), /201 services, more than the 200 this host allows/);
    // A job past its time ends the worker and fails with the reason.
    const impatient = new ManifestThread({ maxServices: 200 }, { timeoutMs: 1 });
    await assert.rejects(impatient.parse(text, 'berth.yaml'), /reading it took over 1 ms/);
    impatient.close();
  } finally {
    thread.close();
  }
});

test('max_services: a host setting, default 200', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-settings-'));
  const file = path.join(dir, 'config.yaml');
  assert.equal((await loadHostSettings(file, {})).maxServices, 200);
  writeFileSync(file, 'max_services: 500\n');
  assert.equal((await loadHostSettings(file, {})).maxServices, 500);
  writeFileSync(file, 'max_services: 0\n');
  await assert.rejects(loadHostSettings(file, {}), /max_services/);
});
