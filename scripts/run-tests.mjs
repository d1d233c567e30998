// The test run of scripts/test.sh: every file under dist/test with node:test, three at once, as `node --test` runs
// them, but the longest files first. `node --test` sorts its files by name, so the swarm files (each with its own
// dockerds, 2-4 minutes each) started last and the run ended on one of them alone while the other slots sat idle.
// Started first, they overlap each other as before and the short files fill the slots around them.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { run } from 'node:test';
import { tap } from 'node:test/reporters';
import { fileURLToPath } from 'node:url';

const dir = path.resolve(fileURLToPath(new URL('../dist/test', import.meta.url)));

/** The longest files of a full run (2026-12-03, 2 cores), longest first; each must exist. */
const LONGEST = [
  'swarm-workers',
  'swarm-deploy',
  'swarm-edge',
  'swarm-env',
  'database-backups',
  'container-crash',
  'alerts-host',
  'images',
  'init-cra',
  'cluster-doctor',
  'deploy-crash',
  'deploy-undo',
  'init-next',
  'database-image',
  'container-lifecycle',
  'swarm',
].map((name) => path.join(dir, `${name}.test.js`));

const all = readdirSync(dir)
  .filter((f) => f.endsWith('.test.js'))
  .map((f) => path.join(dir, f))
  .sort();
const missing = LONGEST.filter((f) => !all.includes(f));
if (missing.length > 0) {
  console.error(`scripts/run-tests.mjs lists test files that do not exist: ${missing.join(', ')}; update LONGEST`);
  process.exit(2);
}
const files = [...LONGEST, ...all.filter((f) => !LONGEST.includes(f))];

let failed = false;
const stream = run({ files, concurrency: 3, timeout: 300_000 });
stream.on('test:fail', (data) => {
  if (!data.todo) failed = true;
});
stream.on('end', () => {
  if (failed) process.exitCode = 1;
});
stream.compose(tap).pipe(process.stdout);
