import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO } from './helpers/home.js';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}

const SRC = path.join(REPO, 'src');
const imports = (file: string) =>
  [...readFileSync(file, 'utf8').matchAll(/^import[^'"]*['"]([^'"]+)['"]/gm)].map((m) => m[1] as string);

test('nothing outside src/store imports a database driver or kysely', () => {
  for (const file of sources(SRC).filter((f) => !f.startsWith(path.join(SRC, 'store') + path.sep))) {
    for (const spec of imports(file))
      assert.ok(!/^(better-sqlite3|pg|kysely)$/.test(spec), `${path.relative(REPO, file)} imports ${spec}`);
  }
});

test('core is pure: it imports only itself and config types (no IO, no adapters, no node: modules)', () => {
  for (const file of sources(path.join(SRC, 'core'))) {
    for (const spec of imports(file))
      assert.ok(spec.startsWith('./') || spec.startsWith('../config/'), `${path.relative(REPO, file)} imports ${spec}`);
  }
});

test('no source hands a string to a shell: spawn with shell:false and argv arrays only', () => {
  for (const file of sources(SRC)) {
    const text = readFileSync(file, 'utf8');
    assert.ok(
      !/shell:\s*true|execSync\(|(?<!\.)\bexec\(|child_process'\)\.exec\b/.test(text),
      `${path.relative(REPO, file)} may run a shell string`,
    );
  }
});

test('the CLI imports no engine, store or daemon code: the result types it renders live in core/results', () => {
  for (const file of sources(path.join(SRC, 'cli'))) {
    for (const spec of imports(file))
      assert.ok(!/^\.\.\/(engine|store|daemon)\//.test(spec), `${path.relative(REPO, file)} imports ${spec}`);
  }
});

test("the API's route files do not import the server they are registered on (shared types: api/deps.ts)", () => {
  for (const file of sources(path.join(SRC, 'api')).filter((f) => !f.endsWith(`${path.sep}server.ts`))) {
    for (const spec of imports(file))
      assert.notEqual(spec, './server.js', `${path.relative(REPO, file)} imports the server`);
  }
});
