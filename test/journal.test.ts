import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { planDeploy } from '../src/core/deploy-plan.js';
import { Journal, newJournal, type StepHandle, type StepRunner } from '../src/engine/deploy/journal.js';
import { Store } from '../src/store/store.js';
import { parseManifest } from '../src/config/manifest.js';

const dir = mkdtempSync(path.join(tmpdir(), 'berth-journal-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const manifest = parseManifest(
  'app: j\nservices:\n  db: { run: x }\n  api: { run: x, depends_on: [db], build: make }\n',
  'berth.yaml',
);

async function journalFor(store: Store) {
  const plan = planDeploy({ manifest, release: 2, previous: 1, fresh: true });
  const doc = newJournal({ note: 'ctx' }, plan);
  const id = await store.write(async (r) => {
    const appId = await r.apps.upsert('j', '/src/j', '/src/j/berth.yaml', Date.now(), 1);
    const envId = (await r.apps.environmentId(appId, 'production', Date.now())).id;
    return r.deployments.create(envId, 'deploy', JSON.stringify(doc), Date.now());
  });
  return { id, journal: new Journal(store, id, doc) };
}

test('the plan: snapshot, build, record, waves by depends_on, switch, then drain, stop, prune', () => {
  assert.deepEqual(
    planDeploy({ manifest, release: 2, previous: 1, fresh: true }).map((s) => s.name),
    [
      'snapshot source as release 2',
      'build api',
      'record release 2',
      'start wave 1: db',
      'start wave 2: api',
      'switch traffic to release 2',
      'drain release 1',
      'stop release 1',
      'prune old releases',
    ],
  );
  assert.deepEqual(
    planDeploy({ manifest, release: 1, previous: 2, fresh: false }).map((s) => s.kind),
    ['wave', 'wave', 'switch', 'drain', 'retire', 'prune'],
  );
});

test('release hooks run after the release is recorded (and its data copied), before any wave; a rollback runs none', () => {
  const hooked = parseManifest(
    'app: h\nservices:\n  db: { run: x, release: ["./init", "--db"] }\n  api: { run: x, depends_on: [db], release: migrate }\n',
    'berth.yaml',
  );
  assert.deepEqual(
    hooked.services.map((s) => s.release),
    [
      ['./init', '--db'],
      ['sh', '-c', 'migrate'],
    ],
  );
  assert.deepEqual(
    planDeploy({ manifest: hooked, release: 2, previous: 1, fresh: true, copyDataFrom: 'production' })
      .slice(0, 6)
      .map((s) => s.name),
    [
      'snapshot source as release 2',
      'record release 2',
      'copy data from production',
      'run release hook of db',
      'run release hook of api',
      'start wave 1: db',
    ],
  );
  assert.ok(!planDeploy({ manifest: hooked, release: 1, previous: 2, fresh: false }).some((s) => s.kind === 'hook'));
});

test('managed databases start (healthy) before the release hooks, so a migration reaches them', () => {
  const withDb = parseManifest(
    'app: m\nservices:\n  pg: { postgres: 15 }\n  kv: { redis: 7 }\n  api: { run: x, depends_on: [pg, kv], release: migrate }\n',
    'berth.yaml',
  );
  assert.deepEqual(
    planDeploy({ manifest: withDb, release: 1, previous: undefined, fresh: true }).map((s) => s.name),
    [
      'snapshot source as release 1',
      'record release 1',
      'start wave 1: pg, kv',
      'run release hook of api',
      'start wave 2: api',
      'switch traffic to release 1',
      'prune old releases',
    ],
  );
});

test('recreate services that run now start last, after every other wave; on a first deploy they keep dependency order', () => {
  const stack = parseManifest(
    'app: s\nservices:\n  jobs: { run: x, port: none }\n  api: { run: x }\n  web: { run: x, depends_on: [api, jobs] }\n',
    'berth.yaml',
  );
  const waves = (running?: string[]) =>
    planDeploy({ manifest: stack, release: 2, previous: running ? 1 : undefined, fresh: false, running })
      .filter((s) => s.kind === 'wave')
      .map((s) => s.name);
  assert.deepEqual(waves(['jobs', 'api', 'web']), ['start wave 1: api', 'start wave 2: web', 'start wave 3: jobs']);
  assert.deepEqual(waves(), ['start wave 1: jobs, api', 'start wave 2: web']);
  assert.deepEqual(waves(['api', 'web']), ['start wave 1: jobs, api', 'start wave 2: web'], 'a new worker is not late');
});

test('a failure undoes the finished steps in reverse; a failing undo is appended to the error, never swallowed; every change is stored', async () => {
  const store = await Store.openSqlite(path.join(dir, 'a.db'));
  const { id, journal } = await journalFor(store);
  const order: string[] = [];
  const runner: StepRunner = {
    async run(h: StepHandle) {
      order.push(`run ${h.step.kind}`);
      await h.note({ touched: true });
      if (h.step.name === 'start wave 2: api') throw new Error('api never became healthy');
    },
    async undo(h: StepHandle) {
      order.push(`undo ${h.step.kind}`);
      if (h.step.kind === 'release') throw new Error('release row locked');
    },
  };
  const { error } = await journal.run(runner);
  assert.equal(
    error,
    'start wave 2: api: api never became healthy; additionally, undoing "record release 2": release row locked',
  );
  assert.deepEqual(order, [
    'run snapshot',
    'run build',
    'run release',
    'run wave',
    'run wave',
    'undo wave',
    'undo wave',
    'undo release',
    'undo build',
    'undo snapshot',
  ]);
  const stored = JSON.parse((await store.deployments.get(id))?.steps ?? '{}') as {
    steps: Array<{ status: string; data?: unknown }>;
  };
  assert.deepEqual(
    stored.steps.map((s) => s.status),
    ['undone', 'undone', 'undo-failed', 'undone', 'failed', 'pending', 'pending', 'pending', 'pending'],
  );
  assert.deepEqual(stored.steps[0]?.data, { touched: true }, 'intent is stored before a step acts');
  await store.close();
});

test('after the switch, failures are completed around, not undone: the deployment stands with warnings', async () => {
  const store = await Store.openSqlite(path.join(dir, 'b.db'));
  const { journal } = await journalFor(store);
  const undone: string[] = [];
  const { error, warnings } = await journal.run({
    async run(h) {
      if (h.step.kind === 'drain') throw new Error('proxy did not answer');
    },
    async undo(h) {
      undone.push(h.step.kind);
    },
  });
  assert.equal(error, undefined);
  assert.deepEqual(warnings, ['drain release 1: proxy did not answer']);
  assert.deepEqual(undone, []);
  assert.equal(journal.switched(), true);
  await store.close();
});
