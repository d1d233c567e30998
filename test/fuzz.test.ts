import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ApiClient, ApiError } from '../src/api/client.js';
import { initRepo } from './helpers/git.js';
import { hit } from './helpers/http.js';
import { assertOk, NODE, TestHome } from './helpers/home.js';

/**
 * Every string a user controls, filled with shell metacharacters, option injections,
 * traversal and unicode tricks: each is refused with a clear error or taken literally.
 * No canary file is ever created, nothing is written outside its root.
 */
const home = new TestHome('25700-25799');
const P = home.httpPort;
const API = 18357;
const templates = path.join(home.root, 'templates');
Object.assign(home.env, {
  BERTH_API_LISTEN: `127.0.0.1:${API}`,
  BERTH_TEMPLATES_DIR: templates,
  BERTH_SITES_DOMAIN: 'fuzz.test',
});
const CANARY = `/tmp/berth-canary-${process.pid}`;

/** Each payload would create CANARY-<i> if anything ran it through a shell or wrote where it points. */
function payloads(): string[] {
  const c = (i: number) => `${CANARY}-${i}`;
  const list = [
    (i: number) => `$(touch ${c(i)})`,
    (i: number) => `\`touch ${c(i)}\``,
    (i: number) => `x;touch ${c(i)}`,
    (i: number) => `x|touch ${c(i)}`,
    (i: number) => `x&&touch ${c(i)}`,
    (i: number) => `x\ntouch ${c(i)}`,
    (i: number) => `"; touch ${c(i)}; "`,
    (i: number) => `--upload-pack=touch ${c(i)}`,
    (i: number) => `-oProxyCommand=touch ${c(i)}`,
    (i: number) => `../../../../../../..${c(i)}`,
    (i: number) => `..%2f..%2f..%2f..%2f..%2f..${c(i).replace(/\//g, '%2f')}`,
    (i: number) => c(i),
    (i: number) => `....//....//....//....//....//....//${c(i).slice(1)}`,
    () => 'аpp', // Cyrillic а
    () => 'app\u202egnp.exe',
    () => 'ａｐｐ',
    () => 'app\u0000x',
    () => 'app🚀',
    () => 'a'.repeat(300),
    () => '',
    () => ' ',
  ];
  return list.map((f, i) => f(i));
}

const cli = (args: string[], input = '') => home.run(args, { input });
const api = new ApiClient(path.join(home.home, 'berthd.sock'));

const yamlString = (s: string) => JSON.stringify(s); // JSON strings are YAML flow scalars
const okApp = home.app(
  'fuzzed',
  `app: fuzzed\nservices:\n  web:\n    run: ["${NODE}", "-e", "require('http').createServer((q, s) => s.end(JSON.stringify(process.env))).listen(process.env.PORT, '127.0.0.1')"]\n    routes: [fuzzed.test]\n`,
);

function canaries(): string[] {
  return readdirSync('/tmp').filter((n) => n.startsWith(`berth-canary-${process.pid}`));
}

before(async () => {
  mkdirSync(path.join(templates, 'hello'), { recursive: true });
  writeFileSync(
    path.join(templates, 'hello', 'berth.yaml'),
    `app: "{{slug}}"\nservices:\n  web:\n    run: ["${NODE}", "-e", "require('http').createServer((q, s) => s.end('ok')).listen(process.env.PORT, '127.0.0.1')"]\n    routes: ["{{host}}"]\n`,
  );
  initRepo(okApp, 'app');
  assertOk(await home.cli('daemon', 'start'));
  assertOk(await home.cli('deploy', okApp));
});
after(() => home.cleanup());

/** A request berthd refuses cleanly: a 4xx with a message (not a crash of berthd, not a 5xx). */
const refused = (err: unknown) =>
  err instanceof ApiError && err.status >= 400 && err.status < 500 && err.message !== '';

/**
 * The CLI adds no handling of its own to a name (it sends it on: src/cli), so each name goes through the API in every
 * place and through the CLI in a rotating share of them: every name and every place reaches the CLI, and every option
 * lookalike ("-..."), which the CLI's own argument parser sees, goes through the CLI in every place.
 */
const throughCli = (payload: number, place: number, places: number, p: string) =>
  payload % places === place || p.startsWith('-');

test('names in berth.yaml (app, service, env keys, route hosts and paths, cwd, static) are refused with an error naming the key', async () => {
  const errors: string[] = [];
  for (const [pi, p] of payloads().entries()) {
    const q = yamlString(p);
    const manifests = [
      `app: ${q}\nservices:\n  web:\n    run: ["true"]\n`,
      `app: fuzzname\nservices:\n  ${q}:\n    run: ["true"]\n`,
      `app: fuzzname\nservices:\n  web:\n    run: ["true"]\n    env: { ${q}: x }\n`,
      `app: fuzzname\nservices:\n  web:\n    run: ["true"]\n    routes: [{ host: ${q} }]\n`,
      `app: fuzzname\nservices:\n  web:\n    run: ["true"]\n    routes: [{ host: fuzz.test, path: ${yamlString('/' + p)} }]\n`,
      `app: fuzzname\nservices:\n  web:\n    run: ["true"]\n    cwd: ${q}\n`,
      `app: fuzzname\nservices:\n  web:\n    static: ${q}\n`,
      `app: fuzzname\nservices:\n  web:\n    run: ["true"]\nenvironments:\n  production: { branch: ${q} }\n`,
      `app: fuzzname\nservices:\n  web:\n    run: ["true"]\nenvironments:\n  preview: { branch: "f/*", hostname: ${q} }\n`,
    ];
    for (const [i, m] of manifests.entries()) {
      const dir = path.join(home.root, 'fuzz', String(i));
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'berth.yaml'), m);
      const what = `manifest ${i} with ${JSON.stringify(p)}`;
      // Some are fine as written (a path made only of allowed characters, a cwd that does not exist yet): then they fail later, cleanly.
      if (throughCli(pi, i, manifests.length, '')) {
        const r = await cli(['deploy', dir]);
        if (r.code !== 0 && !/berth\.yaml|error:/.test(r.stderr)) errors.push(`${what}: ${r.stderr.slice(0, 200)}`);
      } else {
        // What `berth deploy <dir>` sends (src/cli/deploy-fast.ts).
        await api.call('POST', '/v1/deployments', { dir }).catch((err: unknown) => {
          if (!refused(err)) errors.push(`${what}: ${String(err)}`);
        });
      }
    }
  }
  assert.deepEqual(errors, []);
  assert.deepEqual(canaries(), []);
});

test('names on the command line and in the API (env, branch, ref, secret, slug, template, org, user) are refused or literal', async () => {
  const s = api;
  await s.call('POST', '/v1/orgs', { name: 'fuzzorg' });
  const e = encodeURIComponent;
  for (const [pi, p] of payloads().entries()) {
    // Each command line naming p, and the request it sends (src/cli/main.ts, deploy-commands.ts, deploy-fast.ts).
    const places: [string[], 'GET' | 'POST' | 'DELETE', string, object?][] = [
      [['deploy', okApp, '--env', p], 'POST', '/v1/deployments', { dir: okApp, env: p }],
      [['deploy', okApp, '--branch', p], 'POST', '/v1/deployments', { dir: okApp, branch: p }],
      [['deploy', okApp, '--ref', p], 'POST', '/v1/deployments', { dir: okApp, ref: p }],
      [['rollback', p], 'POST', `/v1/apps/${e(p)}/rollback`, { env: 'production' }],
      [['rollback', 'fuzzed', '--env', p], 'POST', '/v1/apps/fuzzed/rollback', { env: p }],
      [['logs', p], 'GET', `/v1/apps/${e(p)}/logs?lines=100`],
      [['env', 'rm', 'fuzzed', p], 'DELETE', `/v1/apps/fuzzed/environments/${e(p)}`],
      [['releases', p], 'GET', `/v1/apps/${e(p)}/releases?env=production`],
      [['rm', p], 'DELETE', `/v1/apps/${e(p)}`],
    ];
    for (const [i, [args, method, route, body]] of places.entries()) {
      await assert.rejects(s.call(method, route, body), refused, `${method} ${route} should refuse`);
      // A NUL byte cannot be on a command line at all (the kernel's argv is NUL-terminated): the API alone.
      if (p.includes('\u0000') || !throughCli(pi, i, places.length, p)) continue;
      const r = await cli(args);
      assert.notEqual(r.code, 0, `berth ${args.join(' ')} should refuse`);
      assert.match(r.stderr, /error: /);
    }
    await assert.rejects(
      s.call('PUT', `/v1/apps/fuzzed/secrets/${encodeURIComponent(p)}`, { value: 'v' }),
      (err: { status: number }) => err.status >= 400 && err.status < 500,
      `secret name ${JSON.stringify(p)}`,
    );
    await assert.rejects(
      s.call('POST', '/v1/deployments', { dir: okApp, env: p }),
      (err: { status: number }) => err.status === 400,
    );
    await assert.rejects(
      s.call('POST', '/v1/deployments', { dir: okApp, branch: p }),
      (err: { status: number }) => err.status === 400,
    );
    for (const body of [
      { slug: p, template: 'hello' },
      { slug: 'fuzzok', template: p },
    ]) {
      await assert.rejects(
        s.call('POST', '/v1/orgs/fuzzorg/sites', body),
        (err: { status: number }) => err.status >= 400 && err.status < 500,
        JSON.stringify(body),
      );
    }
    await assert.rejects(s.call('POST', '/v1/orgs', { name: p }), (err: { status: number }) => err.status === 400);
    await assert.rejects(
      s.call('POST', '/v1/admin/users', { name: p, password: 'correct horse battery staple' }),
      (err: { status: number }) => err.status === 400,
    );
  }
  assert.deepEqual(canaries(), []);
  assert.ok(
    !existsSync(path.join(home.home, 'sites')) || readdirSync(path.join(home.home, 'sites')).length === 0,
    'no site was made',
  );
});

test('values are literal: env values and secret values reach the process as written, never through a shell', async () => {
  const values = payloads().filter((p) => p !== '' && !p.includes('\u0000'));
  const env = Object.fromEntries(values.map((v, i) => [`FUZZ_${i}`, v]));
  writeFileSync(
    path.join(okApp, 'berth.yaml'),
    `app: fuzzed\nservices:\n  web:\n    run: ["${NODE}", "-e", "require('http').createServer((q, s) => s.end(JSON.stringify(process.env))).listen(process.env.PORT, '127.0.0.1')", ${values.map(yamlString).join(', ')}]\n    env: ${JSON.stringify(env)}\n    routes: [fuzzed.test]\n`,
  );
  for (const [i, v] of values.slice(0, 8).entries())
    assert.equal((await cli(['secrets', 'set', 'fuzzed', `SECRET_${i}`], v)).code, 0);
  assertOk(await home.cli('deploy', okApp));
  const got = (await hit(P, 'fuzzed.test', '/')).json<Record<string, string>>();
  for (const [k, v] of Object.entries(env)) assert.equal(got[k], v, k);
  for (const [i, v] of values.slice(0, 8).entries())
    assert.equal(got[`SECRET_${i}`], v.replace(/\n$/, ''), `SECRET_${i}`);
  assert.deepEqual(canaries(), [], 'nothing was run through a shell');
  const outside = ['/tmp', '/var/tmp', '/', '/etc', home.root].flatMap((d) =>
    readdirSync(d)
      .filter((n) => /canary|touch/.test(n))
      .map((n) => path.join(d, n)),
  );
  assert.deepEqual(outside, [], 'nothing written outside its root');
});
