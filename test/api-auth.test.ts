import assert from 'node:assert/strict';
import { test } from 'node:test';
import { apiWorld, WHO } from './helpers/api-world.js';

/**
 * The API over TCP: who may call what. The authorization matrix covers every route the OpenAPI
 * document lists; a route without an entry here fails the test.
 */
const API = 18352;
const { tokens, api, login } = apiWorld('25200-25299', API);

/**
 * Expected status per caller (anonymous, member of another org, viewer, member, admin,
 * owner). Calls that are allowed get an input that fails validation (400) where the route
 * would change something, so the matrix proves the decision without side effects; 200 for reads.
 */
const D = 401;
const F = 403;
const N = 404;
const B = 400;
const OK = 200;
const MATRIX: Record<
  string,
  { path: string; body?: unknown; expect: [number, number, number, number, number, number] }
> = {
  'GET /v1/openapi.json': { path: '/v1/openapi.json', expect: [OK, OK, OK, OK, OK, OK] },
  'GET /v1/daemon': { path: '/v1/daemon', expect: [D, OK, OK, OK, OK, OK] },
  'POST /v1/daemon/stop': { path: '/v1/daemon/stop', expect: [D, F, F, F, F, F] },
  'POST /v1/daemon/event-loop': { path: '/v1/daemon/event-loop', expect: [D, F, F, F, F, F] },
  'GET /v1/apps': { path: '/v1/apps', expect: [D, OK, OK, OK, OK, OK] },
  'GET /v1/instances': { path: '/v1/instances', expect: [D, OK, OK, OK, OK, OK] },
  'GET /v1/apps/:app/instances': { path: '/v1/apps/shop/instances', expect: [D, N, OK, OK, OK, OK] },
  'GET /v1/apps/:app/events': { path: '/v1/apps/shop/events', expect: [D, N, OK, OK, OK, OK] },
  'POST /v1/apps/:app/start': { path: '/v1/apps/shop/start', body: 'nope', expect: [D, N, F, B, B, B] },
  'POST /v1/apps/:app/stop': { path: '/v1/apps/shop/stop', body: 'nope', expect: [D, N, F, B, B, B] },
  'POST /v1/apps/:app/restart': { path: '/v1/apps/shop/restart', body: 'nope', expect: [D, N, F, B, B, B] },
  'DELETE /v1/apps/:app': { path: '/v1/apps/shop?purge=nope', expect: [D, N, F, F, B, B] },
  'GET /v1/apps/:app/environments': { path: '/v1/apps/shop/environments', expect: [D, N, OK, OK, OK, OK] },
  'DELETE /v1/apps/:app/environments/:env': {
    path: '/v1/apps/shop/environments/production?force=nope',
    expect: [D, N, F, B, B, B],
  },
  'GET /v1/events': { path: '/v1/events', expect: [D, OK, OK, OK, OK, OK] },
  'GET /v1/routes': { path: '/v1/routes', expect: [D, OK, OK, OK, OK, OK] },
  'GET /v1/config': { path: '/v1/config', expect: [D, F, F, F, F, F] },
  'PUT /v1/config': { path: '/v1/config', body: 'nope', expect: [D, F, F, F, F, F] },
  'GET /v1/doctor': { path: '/v1/doctor', expect: [D, F, F, F, F, F] },
  'GET /v1/apps/:app/doctor': { path: '/v1/apps/shop/doctor', expect: [D, N, OK, OK, OK, OK] },
  'GET /v1/images': { path: '/v1/images', expect: [D, F, F, F, F, F] },
  'GET /v1/apps/:app/images': { path: '/v1/apps/shop/images', expect: [D, N, OK, OK, OK, OK] },
  'POST /v1/images/prune': { path: '/v1/images/prune', body: 'nope', expect: [D, F, F, F, F, F] },
  'POST /v1/apps/:app/images/prune': { path: '/v1/apps/shop/images/prune', body: 'nope', expect: [D, N, F, B, B, B] },
  'GET /v1/proxy': { path: '/v1/proxy', expect: [D, F, F, F, F, F] },
  'POST /v1/proxy/stop': { path: '/v1/proxy/stop', expect: [D, F, F, F, F, F] },
  'POST /v1/proxy/start': { path: '/v1/proxy/start', expect: [D, F, F, F, F, F] },
  'POST /v1/deployments': { path: '/v1/deployments', body: 'nope', expect: [D, B, B, B, B, B] },
  'POST /v1/uploads/deployments': { path: '/v1/uploads/deployments', body: 'nope', expect: [D, B, F, B, B, B] },
  'POST /v1/apps/:app/rollback': { path: '/v1/apps/shop/rollback', body: 'nope', expect: [D, N, F, B, B, B] },
  'GET /v1/apps/:app/releases': { path: '/v1/apps/shop/releases', expect: [D, N, OK, OK, OK, OK] },
  'GET /v1/apps/:app/logs': { path: '/v1/apps/shop/logs', expect: [D, N, OK, OK, OK, OK] },
  'POST /v1/apps/:app/run': { path: '/v1/apps/shop/run', body: 'nope', expect: [D, N, F, B, B, B] },
  'GET /v1/apps/:app/cron': { path: '/v1/apps/shop/cron', expect: [D, N, OK, OK, OK, OK] },
  'POST /v1/apps/:app/backups': { path: '/v1/apps/shop/backups', body: 'nope', expect: [D, N, F, B, B, B] },
  'GET /v1/apps/:app/backups': { path: '/v1/apps/shop/backups', expect: [D, N, OK, OK, OK, OK] },
  'POST /v1/apps/:app/backups/:snapshot/restore': {
    path: '/v1/apps/shop/backups/abcdef12/restore',
    body: 'nope',
    expect: [D, N, F, B, B, B],
  },
  'GET /v1/apps/:app/database': { path: '/v1/apps/shop/database?show=nope', expect: [D, N, F, B, B, B] },
  'POST /v1/apps/:app/webhook': { path: '/v1/apps/shop/webhook', body: 'nope', expect: [D, N, F, F, B, B] },
  'POST /v1/hooks/github/:app': {
    path: '/v1/hooks/github/shop',
    body: { ref: 'refs/heads/main' },
    expect: [D, D, D, D, D, D],
  },
  'GET /v1/apps/:app/secrets': { path: '/v1/apps/shop/secrets', expect: [D, N, F, OK, OK, OK] },
  'PUT /v1/apps/:app/secrets/:name': { path: '/v1/apps/shop/secrets/TOKEN', body: 'nope', expect: [D, N, F, F, B, B] },
  'DELETE /v1/apps/:app/secrets/:name': { path: '/v1/apps/shop/secrets/TOKEN?env=', expect: [D, N, F, F, B, B] },
  'POST /v1/admin/users': { path: '/v1/admin/users', body: 'nope', expect: [D, F, F, F, F, F] },
  'POST /v1/orgs': { path: '/v1/orgs', body: 'nope', expect: [D, F, F, F, F, F] },
  'GET /v1/orgs': { path: '/v1/orgs', expect: [D, OK, OK, OK, OK, OK] },
  'PUT /v1/orgs/:org/quota': { path: '/v1/orgs/acme/quota', body: 'nope', expect: [D, F, F, F, F, F] },
  'GET /v1/orgs/:org/members': { path: '/v1/orgs/acme/members', expect: [D, N, OK, OK, OK, OK] },
  'PUT /v1/orgs/:org/members/:user': { path: '/v1/orgs/acme/members/viewer', body: 'nope', expect: [D, N, F, F, B, B] },
  'DELETE /v1/orgs/:org/members/:user': { path: `/v1/orgs/acme/members/${'x'.repeat(64)}`, expect: [D, N, F, F, B, B] },
  'POST /v1/orgs/:org/invites': { path: '/v1/orgs/acme/invites', body: 'nope', expect: [D, N, F, F, B, B] },
  'POST /v1/invites/accept': { path: '/v1/invites/accept', body: 'nope', expect: [B, B, B, B, B, B] },
  'POST /v1/orgs/:org/sites': { path: '/v1/orgs/acme/sites', body: 'nope', expect: [D, N, F, B, B, B] },
  'GET /v1/orgs/:org/sites': { path: '/v1/orgs/acme/sites', expect: [D, N, OK, OK, OK, OK] },
  'DELETE /v1/orgs/:org/sites/:slug': { path: `/v1/orgs/acme/sites/${'x'.repeat(64)}`, expect: [D, N, F, F, B, B] },
  'GET /v1/orgs/:org/audit': { path: '/v1/orgs/acme/audit', expect: [D, N, F, F, OK, OK] },
  'GET /v1/audit': { path: '/v1/audit', expect: [D, F, F, F, F, F] },
  'POST /v1/login': { path: '/v1/login', body: 'nope', expect: [B, B, B, B, B, B] },
  'POST /v1/logout': { path: '/v1/logout', expect: [D, OK, OK, OK, OK, OK] },
  'GET /v1/me': { path: '/v1/me', expect: [D, OK, OK, OK, OK, OK] },
  'POST /v1/tokens': { path: '/v1/tokens', body: 'nope', expect: [D, B, B, B, B, B] },
  'GET /v1/tokens': { path: '/v1/tokens', expect: [D, OK, OK, OK, OK, OK] },
  'DELETE /v1/tokens/:id': { path: '/v1/tokens/abc', expect: [D, B, B, B, B, B] },
  'GET /metrics': { path: '/metrics', expect: [D, F, F, F, F, F] },
  'GET /v1/stats': { path: '/v1/stats', expect: [D, OK, OK, OK, OK, OK] },
  'GET /v1/apps/:app/metrics': { path: '/v1/apps/shop/metrics', expect: [D, N, OK, OK, OK, OK] },
  'POST /v1/metrics/tokens': { path: '/v1/metrics/tokens', body: 'nope', expect: [D, F, F, F, F, F] },
  'GET /v1/metrics/tokens': { path: '/v1/metrics/tokens', expect: [D, F, F, F, F, F] },
  'DELETE /v1/metrics/tokens/:id': { path: '/v1/metrics/tokens/abc', expect: [D, F, F, F, F, F] },
  'GET /v1/cluster': { path: '/v1/cluster', expect: [D, F, F, F, F, F] },
  'POST /v1/cluster/init': { path: '/v1/cluster/init', body: 'nope', expect: [D, F, F, F, F, F] },
  'POST /v1/cluster/join': { path: '/v1/cluster/join', body: 'nope', expect: [D, F, F, F, F, F] },
  'POST /v1/cluster/nodes/:node/availability': {
    path: '/v1/cluster/nodes/n1/availability',
    body: 'nope',
    expect: [D, F, F, F, F, F],
  },
  'GET /v1/cluster/token': { path: '/v1/cluster/token', expect: [D, F, F, F, F, F] },
};

test("authorization matrix: every route of the OpenAPI document, as anonymous, another org's owner, viewer, member, admin and owner", async () => {
  const doc = (await api('GET', '/v1/openapi.json')).body as {
    paths: Record<string, Record<string, { 'x-berth-policy': { need: string } }>>;
  };
  const operations = Object.entries(doc.paths).flatMap(([p, ops]) =>
    Object.keys(ops).map((m) => `${m.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ':$1')}`),
  );
  assert.deepEqual(
    operations.filter((o) => !MATRIX[o]),
    [],
    'every route has a matrix entry: add one for a new route',
  );
  assert.deepEqual(
    Object.keys(MATRIX).filter((k) => !operations.includes(k)),
    [],
    'no entry for a route that is gone',
  );
  const wrong: string[] = [];
  for (const [op, entry] of Object.entries(MATRIX)) {
    const method = op.split(' ')[0] as string;
    for (const [i, who] of WHO.entries()) {
      // logout revokes the token it is called with: use a fresh one.
      const token = op === 'POST /v1/logout' && who !== 'anonymous' ? await login(who) : tokens[who];
      const r = await api(method, entry.path, { token, ...(entry.body !== undefined ? { body: entry.body } : {}) });
      if (r.status !== entry.expect[i])
        wrong.push(
          `${op} as ${who}: ${r.status}, expected ${entry.expect[i]} (${JSON.stringify(r.body).slice(0, 160)})`,
        );
    }
  }
  assert.deepEqual(wrong, []);
  assert.equal(
    (await api('GET', '/v1/apps/shop/instances', { token: tokens.outsider })).body.error.message,
    'no app named "shop"',
    "another org's app is indistinguishable from none",
  );
});
