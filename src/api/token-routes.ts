import type { FastifyInstance } from 'fastify';
import { BerthError } from '../core/errors.js';
import type { Principal, Role } from '../core/roles.js';
import { policy, visibleOrgs } from './policy.js';
import type { ApiDeps } from './deps.js';
import { duration, ms, name, role } from './identity-schemas.js';

/** Sign-in and sign-out, who am I, and API tokens: made, listed and revoked by their own user. */
export function registerTokenRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const id = deps.identity;
  const store = deps.store;
  app.post<{ Body: { name: string; password: string; session?: boolean; expires?: string } }>(
    '/v1/login',
    {
      ...policy('public'),
      schema: {
        body: {
          type: 'object',
          required: ['name', 'password'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', maxLength: 63 },
            password: { type: 'string', maxLength: 1024 },
            session: { type: 'boolean' },
            expires: duration,
          },
        },
      },
    },
    async (req, reply) => {
      const r = await id
        .login(req.body.name, req.body.password, req.ip, {
          session: req.body.session === true,
          expiresInMs: ms(req.body.expires, 30 * 86_400_000),
        })
        .catch((err: unknown) => {
          if (err instanceof BerthError && err.code === 'too_many_attempts')
            void reply.header(
              'retry-after',
              String(Math.ceil((err.details as { retryAfterMs: number }).retryAfterMs / 1000)),
            );
          throw err;
        });
      if (req.body.session) {
        const secure = req.protocol === 'https' ? '; Secure' : '';
        void reply.header(
          'set-cookie',
          `berth_session=${r.token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${Math.floor((r.expiresAt - Date.now()) / 1000)}${secure}`,
        );
        return { user: r.user, expiresAt: r.expiresAt, csrf: r.csrf };
      }
      return r;
    },
  );
  app.post('/v1/logout', policy('authenticated'), async (req, reply) => {
    const p = req.principal;
    if (p.kind === 'user') await store.identity.deleteToken(p.tokenId, p.userId);
    void reply.header('set-cookie', 'berth_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0');
    return { signedOut: true };
  });
  app.get('/v1/me', policy('authenticated'), async (req) => {
    const p = req.principal;
    if (p.kind !== 'user') return { user: null, local: p.kind === 'local' };
    const visible = await visibleOrgs(store, p);
    return {
      user: p.name,
      via: p.via,
      scope: p.scope,
      orgs: (await store.identity.orgs(p.userId))
        .filter((o) => visible?.includes(o.id))
        .map((o) => ({ name: o.name, role: o.role })),
    };
  });
  app.post<{ Body: { name: string; org?: string; role?: Role; expires?: string } }>(
    '/v1/tokens',
    {
      ...policy('authenticated'),
      schema: {
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: { name: { type: 'string', minLength: 1, maxLength: 100 }, org: name, role, expires: duration },
        },
      },
    },
    async (req) =>
      id.createToken(req.principal, {
        name: req.body.name,
        org: req.body.org,
        role: req.body.role,
        expiresInMs: req.body.expires === undefined ? undefined : ms(req.body.expires, 0),
      }),
  );
  /** Listing and revoking all of a user's tokens is for the user, not for one of their scoped tokens. */
  const unscoped = (p: Principal) => {
    if (p.kind === 'user' && (p.scope.orgId !== null || p.scope.ceiling !== null))
      throw new BerthError('forbidden', 'scoped_token', 'a scoped token cannot list or revoke tokens', {
        hint: 'sign in (berth login) to manage your tokens',
      });
  };
  app.get('/v1/tokens', policy('authenticated'), async (req) => {
    const p = req.principal;
    unscoped(p);
    if (p.kind !== 'user') return [];
    return (await store.identity.tokens(p.userId)).map((t) => ({
      id: t.id,
      name: t.name,
      org: t.orgId,
      role: t.roleCeiling,
      expiresAt: t.expiresAt,
      createdAt: t.createdAt,
      lastUsedAt: t.lastUsedAt,
    }));
  });
  app.delete<{ Params: { id: number } }>(
    '/v1/tokens/:id',
    {
      ...policy('authenticated'),
      schema: { params: { type: 'object', required: ['id'], properties: { id: { type: 'integer', minimum: 1 } } } },
    },
    async (req) => {
      const p = req.principal;
      if (p.kind === 'user' && p.tokenId !== req.params.id) unscoped(p);
      if (p.kind !== 'user' || !(await store.identity.deleteToken(req.params.id, p.userId)))
        throw new BerthError('not_found', 'token_not_found', `no token ${req.params.id} of yours`);
      return { deleted: req.params.id };
    },
  );
}
