import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before } from 'node:test';
import { ApiClient } from '../../src/api/client.js';
import { assertOk, NODE, REPO, TestHome } from './home.js';

/**
 * The world the API-over-TCP tests share: a real berthd listening on 127.0.0.1, two organisations
 * (acme with a viewer, member, admin and owner; other with its owner, "outsider"), an app in each
 * (shop, rival), and a signed-in token per caller. Real argon2id, real tokens, real sessions.
 */
export const SERVER = path.join(REPO, 'test', 'fixtures', 'server.mjs');
export const PASSWORD = 'correct horse battery staple';
export const WHO = ['anonymous', 'outsider', 'viewer', 'member', 'admin', 'owner'] as const;
export type Who = (typeof WHO)[number];

export interface ApiReply {
  status: number;
  body: any;
  headers: Headers;
}

export interface ApiWorld {
  home: TestHome;
  base: string;
  tokens: Record<Who, string | undefined>;
  socket: () => ApiClient;
  api: (
    method: string,
    route: string,
    opts?: { token?: string | undefined; body?: unknown; headers?: Record<string, string> },
  ) => Promise<ApiReply>;
  login: (name: string, password?: string) => Promise<string>;
}

/** Registers the before/after hooks of a test file that builds this world on its own range and API port. */
export function apiWorld(range: string, apiPort: number): ApiWorld {
  const home = new TestHome(range);
  const base = `http://127.0.0.1:${apiPort}`;
  Object.assign(home.env, {
    BERTH_API_LISTEN: `127.0.0.1:${apiPort}`,
    XDG_CONFIG_HOME: path.join(home.root, 'config'),
  });
  const socket = () => new ApiClient(path.join(home.home, 'berthd.sock'));
  const tokens = {} as Record<Who, string | undefined>;

  const api: ApiWorld['api'] = async (method, route, opts = {}) => {
    const res = await fetch(base + route, {
      method,
      headers: {
        ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
        ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...opts.headers,
      },
      ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
    });
    const text = await res.text();
    let body: any = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // text (logs)
    }
    return { status: res.status, body, headers: res.headers };
  };

  const login = async (name: string, password = PASSWORD): Promise<string> => {
    const r = await api('POST', '/v1/login', { body: { name, password } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.token as string;
  };

  before(async () => {
    assertOk(await home.cli('daemon', 'start'));
    const s = socket();
    await s.call('POST', '/v1/orgs', { name: 'acme' });
    await s.call('POST', '/v1/orgs', { name: 'other' });
    for (const role of ['viewer', 'member', 'admin', 'owner'] as const)
      await s.call('POST', '/v1/admin/users', { name: role, password: PASSWORD, org: 'acme', role });
    await s.call('POST', '/v1/admin/users', { name: 'outsider', password: PASSWORD, org: 'other', role: 'owner' });
    const app = (name: string) =>
      home.app(
        name,
        `app: ${name}\nservices:\n  web:\n    run: ["${NODE}", "${SERVER}"]\n    routes: [${name}.test]\n`,
      );
    assertOk(await home.cli('deploy', app('shop'), '--org', 'acme'));
    assertOk(await home.cli('deploy', app('rival'), '--org', 'other'));
    for (const who of WHO) tokens[who] = who === 'anonymous' ? undefined : await login(who);
  });
  after(() => home.cleanup());

  return { home, base, tokens, socket, api, login };
}
