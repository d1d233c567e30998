import assert from 'node:assert/strict';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { hit } from './helpers/http.js';
import { assertOk, TestHome } from './helpers/home.js';
import { makeWheel } from './helpers/wheel.js';
import type { InstanceStatus } from '../src/core/results.js';

// Dependencies per release (a virtualenv from requirements.txt) and the build cache (issue 18, criteria 3 and 4).
// PyPI is not reachable: pip installs from a directory of wheels made here, told so by the service's env.
const home = new TestHome('29200-29299');
after(() => home.cleanup());

const wheels = path.join(home.root, 'wheels');

const SERVER = `import http.server, os, sys, tinydep
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("ok" if self.path == "/health" else f"{tinydep.VALUE} {sys.prefix}").encode()
        self.send_response(200); self.send_header("content-length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
`;

const manifest = `app: pydeps
services:
  api:
    run: ["python", "server.py"]
    cwd: api
    build: python -c "import tinydep"
    release: python -c "import tinydep; print('hook sees', tinydep.VALUE)"
    env: { PIP_NO_INDEX: "1", PIP_FIND_LINKS: "${wheels}" }
    health: { http: /health }
  web:
    run: ["node", "server.js"]
    cwd: web
  docs:
    static: docs
    cwd: docs
`;

// A Node service with a lockfile and no \`build:\`: npm ci installs its dependency (a local one: no registry here).
const WEB = {
  'web/server.js':
    "const t = require('tinyjs');\nrequire('http').createServer((q, s) => s.end('tiny ' + t.value)).listen(+process.env.PORT, '127.0.0.1');\n",
  'web/package.json': JSON.stringify({ name: 'web', version: '1.0.0', dependencies: { tinyjs: 'file:vendor/tinyjs' } }),
  'web/package-lock.json': JSON.stringify({
    name: 'web',
    version: '1.0.0',
    lockfileVersion: 3,
    requires: true,
    packages: {
      '': { name: 'web', version: '1.0.0', dependencies: { tinyjs: 'file:vendor/tinyjs' } },
      'node_modules/tinyjs': { resolved: 'vendor/tinyjs', link: true },
      'vendor/tinyjs': { version: '1.0.0' },
    },
  }),
  'web/vendor/tinyjs/package.json': JSON.stringify({ name: 'tinyjs', version: '1.0.0' }),
  'web/vendor/tinyjs/index.js': 'exports.value = 7;\n',
};

let dir = '';
const buildLog = (n: number) =>
  readFileSync(path.join(home.home, 'logs', 'pydeps', 'production', `build-${n}.log`), 'utf8');
const release = (n: number) => path.join(home.home, 'releases', 'pydeps', 'production', String(n));

async function answer(service = 'api'): Promise<string> {
  const port = (await home.json<InstanceStatus[]>('ps', 'pydeps')).find((v) => v.service === service)?.port;
  return (await hit(port as number, '127.0.0.1', '/')).text();
}

before(() => {
  makeWheel(wheels);
  dir = home.app('pydeps', manifest, {
    'api/requirements.txt': 'tinydep\n',
    'api/server.py': SERVER,
    'docs/index.html': '<h1>docs 1</h1>\n',
    ...WEB,
  });
});

test('a python service gets a virtualenv in its release, on PATH for its build, hook, process and berth run', async () => {
  assertOk(await home.cli('up', dir), 'up');
  assert.equal(await answer(), `42 ${path.join(release(1), 'api', '.venv')}`);
  const log = buildLog(1);
  assert.match(log, /Successfully installed tinydep-1\.0/);
  assert.match(log, /hook sees 42/);
  assert.equal(await answer('web'), 'tiny 7');
  assert.match(log, /added 1 package/);
  const run = await home.cli('run', 'pydeps', 'tinydep-hello');
  assertOk(run, 'run');
  assert.match(run.stdout, /hello from tinydep 42/);
});

test('a release whose build inputs are unchanged reuses the build (copied, its venv moved to the new release)', async () => {
  writeFileSync(path.join(dir, 'docs', 'index.html'), '<h1>docs 2</h1>\n'); // another service's files
  assertOk(await home.cli('deploy', dir), 'deploy 2');
  const log = buildLog(2);
  assert.match(log, /build of api: inputs unchanged since release 1, its output reused/);
  assert.match(log, /build of web: inputs unchanged since release 1, its output reused/);
  assert.doesNotMatch(log, /Successfully installed|added 1 package/);
  assert.equal(await answer('web'), 'tiny 7');
  assert.equal(await answer(), `42 ${path.join(release(2), 'api', '.venv')}`);
  // The copied venv names its own release, never the one it was copied from.
  const script = readFileSync(path.join(release(2), 'api', '.venv', 'bin', 'tinydep-hello'), 'utf8');
  assert.equal(script.split('\n')[0], `#!${path.join(release(2), 'api', '.venv', 'bin', 'python')}`);
});

test('deploy --no-cache builds afresh although nothing changed', async () => {
  assertOk(await home.cli('deploy', '--no-cache', dir), 'deploy --no-cache');
  assert.match(buildLog(3), /Successfully installed tinydep-1\.0/);
  assert.match(buildLog(3), /added 1 package/);
  assert.doesNotMatch(buildLog(3), /reused/);
});

test('a code-only change rebuilds but reuses the dependencies: no pip, no npm ci (the wheels are gone)', async () => {
  writeFileSync(path.join(dir, 'api', 'server.py'), SERVER.replace('tinydep.VALUE}', 'tinydep.VALUE} v4'));
  writeFileSync(path.join(dir, 'web', 'server.js'), WEB['web/server.js'].replace("'tiny '", "'tiny v4 '"));
  renameSync(wheels, `${wheels}.away`); // pip could install nothing now
  try {
    assertOk(await home.cli('deploy', dir), 'deploy 4');
  } finally {
    renameSync(`${wheels}.away`, wheels);
  }
  const log = buildLog(4);
  assert.match(log, /dependencies of api: unchanged since release 3, its virtualenv reused/);
  assert.match(log, /dependencies of web: unchanged since release 3, its node_modules reused/);
  assert.match(log, /hook sees 42/, 'the build and the hook ran on the copied venv');
  assert.doesNotMatch(log, /Successfully installed|added 1 package|inputs unchanged/);
  assert.equal(await answer(), `42 v4 ${path.join(release(4), 'api', '.venv')}`);
  assert.equal(await answer('web'), 'tiny v4 7');
  const script = readFileSync(path.join(release(4), 'api', '.venv', 'bin', 'tinydep-hello'), 'utf8');
  assert.equal(script.split('\n')[0], `#!${path.join(release(4), 'api', '.venv', 'bin', 'python')}`);
  // A changed requirements file installs again, even when only a comment changed.
  writeFileSync(path.join(dir, 'api', 'requirements.txt'), 'tinydep  # the one dependency\n');
  assertOk(await home.cli('deploy', dir), 'deploy 5');
  assert.match(buildLog(5), /Successfully installed tinydep-1\.0/);
  assert.match(buildLog(5), /build of web: inputs unchanged since release 4/);
  assert.doesNotMatch(buildLog(5), /dependencies of api: unchanged/);
});

test('a changed input builds afresh: a dependency removed from requirements.txt fails the build, no cache hides it', async () => {
  writeFileSync(path.join(dir, 'api', 'requirements.txt'), '\n');
  const r = await home.cli('deploy', dir);
  assert.notEqual(r.code, 0, r.stdout);
  assert.match(r.stdout + r.stderr, /build of api failed/);
  assert.doesNotMatch(buildLog(6), /build of api: inputs unchanged|dependencies of api: unchanged/);
  assert.match(buildLog(6), /ModuleNotFoundError: No module named 'tinydep'/);
  assert.equal(await answer(), `42 v4 ${path.join(release(5), 'api', '.venv')}`, 'release 5 still serves');
});
