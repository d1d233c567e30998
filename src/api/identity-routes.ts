import type { FastifyInstance } from 'fastify';
import { BerthError } from '../core/errors.js';
import type { Role } from '../core/roles.js';
import { policy, visibleOrgs } from './policy.js';
import type { ApiDeps } from './deps.js';
import { duration, ms, name, orgParams, role } from './identity-schemas.js';

/** Users, organisations, members, invites, quotas, sites, the audit log (sign-in and tokens: token-routes.ts). */
export function registerIdentityRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const id = deps.identity;
  const store = deps.store;
  const orgOf = (req: { scopeOrg: { id: number; name: string } | undefined }) =>
    req.scopeOrg as { id: number; name: string };

  app.post<{ Body: { name: string; password: string; org?: string; role?: Role } }>(
    '/v1/admin/users',
    {
      ...policy('host'),
      schema: {
        body: {
          type: 'object',
          required: ['name', 'password'],
          additionalProperties: false,
          properties: { name, password: { type: 'string', maxLength: 1024 }, org: name, role },
        },
      },
    },
    async (req) =>
      id.createUser(
        req.body.name,
        req.body.password,
        req.body.org ? { name: req.body.org, role: req.body.role ?? 'member' } : undefined,
      ),
  );
  app.post<{ Body: { name: string } }>(
    '/v1/orgs',
    {
      ...policy('host'),
      schema: { body: { type: 'object', required: ['name'], additionalProperties: false, properties: { name } } },
    },
    async (req) => id.createOrg(req.body.name),
  );
  app.get('/v1/orgs', policy('authenticated'), async (req) => {
    const p = req.principal;
    const all = await store.identity.orgs(p.kind === 'user' ? p.userId : undefined);
    const visible = await visibleOrgs(store, p);
    return all
      .filter((o) => visible === undefined || visible.includes(o.id))
      .map((o) => ({ name: o.name, role: o.role ?? 'owner', quota: { apps: o.maxApps, instances: o.maxInstances } }));
  });
  app.put<{ Params: { org: string }; Body: { apps?: number | null; instances?: number | null } }>(
    '/v1/orgs/:org/quota',
    {
      ...policy('host', 'org'),
      schema: {
        params: orgParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            apps: { type: ['integer', 'null'], minimum: 0 },
            instances: { type: ['integer', 'null'], minimum: 0 },
          },
        },
      },
    },
    async (req) => {
      const org = await store.identity.org(req.params.org);
      if (!org) throw new BerthError('not_found', 'org_not_found', `no organisation "${req.params.org}"`);
      const quota = {
        maxApps: req.body.apps === undefined ? org.maxApps : req.body.apps,
        maxInstances: req.body.instances === undefined ? org.maxInstances : req.body.instances,
      };
      await store.write((r) => r.identity.setQuota(org.id, quota));
      return { org: org.name, quota: { apps: quota.maxApps, instances: quota.maxInstances } };
    },
  );
  app.get<{ Params: { org: string } }>(
    '/v1/orgs/:org/members',
    { ...policy({ role: 'viewer' }, 'org'), schema: { params: orgParams } },
    async (req) => store.identity.members(orgOf(req).id),
  );
  app.put<{ Params: { org: string; user: string }; Body: { role: Role } }>(
    '/v1/orgs/:org/members/:user',
    {
      ...policy({ role: 'admin' }, 'org'),
      schema: {
        params: { type: 'object', required: ['org', 'user'], properties: { org: name, user: name } },
        body: { type: 'object', required: ['role'], additionalProperties: false, properties: { role } },
      },
    },
    async (req) => id.setRole(orgOf(req).id, req.role as Role, req.params.user, req.body.role),
  );
  app.delete<{ Params: { org: string; user: string } }>(
    '/v1/orgs/:org/members/:user',
    {
      ...policy({ role: 'admin' }, 'org'),
      schema: { params: { type: 'object', required: ['org', 'user'], properties: { org: name, user: name } } },
    },
    async (req) => id.setRole(orgOf(req).id, req.role as Role, req.params.user, null),
  );
  app.post<{ Params: { org: string }; Body: { role: Role; expires?: string } }>(
    '/v1/orgs/:org/invites',
    {
      ...policy({ role: 'admin' }, 'org'),
      schema: {
        params: orgParams,
        body: {
          type: 'object',
          required: ['role'],
          additionalProperties: false,
          properties: { role, expires: duration },
        },
      },
    },
    async (req) => ({
      org: orgOf(req).name,
      ...(await id.invite(
        orgOf(req).id,
        req.principal,
        req.role as Role,
        req.body.role,
        ms(req.body.expires, 7 * 86_400_000),
      )),
    }),
  );
  app.post<{ Body: { invite: string; name?: string; password?: string } }>(
    '/v1/invites/accept',
    {
      ...policy('public'),
      schema: {
        body: {
          type: 'object',
          required: ['invite'],
          additionalProperties: false,
          properties: {
            invite: { type: 'string', maxLength: 200 },
            name,
            password: { type: 'string', maxLength: 1024 },
          },
        },
      },
    },
    async (req) =>
      id.accept(
        req.body.invite,
        req.principal,
        req.body.name !== undefined && req.body.password !== undefined
          ? { name: req.body.name, password: req.body.password }
          : undefined,
      ),
  );
  app.get<{ Params: { org: string }; Querystring: { limit?: number } }>(
    '/v1/orgs/:org/audit',
    {
      ...policy({ role: 'admin' }, 'org'),
      schema: {
        params: orgParams,
        querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 10000 } } },
      },
    },
    async (req) => store.identity.auditLog(orgOf(req).name, req.query.limit ?? 100),
  );
  const siteParams = { type: 'object', required: ['org', 'slug'], properties: { org: name, slug: name } } as const;
  app.post<{ Params: { org: string }; Body: { slug: string; template: string } }>(
    '/v1/orgs/:org/sites',
    {
      ...policy({ role: 'member' }, 'org'),
      schema: {
        params: orgParams,
        body: {
          type: 'object',
          required: ['slug', 'template'],
          additionalProperties: false,
          properties: {
            slug: { type: 'string', minLength: 1, maxLength: 100 },
            template: { type: 'string', minLength: 1, maxLength: 100 },
          },
        },
      },
    },
    async (req) => deps.sites.create(orgOf(req), req.body, req.principal),
  );
  app.get<{ Params: { org: string } }>(
    '/v1/orgs/:org/sites',
    { ...policy({ role: 'viewer' }, 'org'), schema: { params: orgParams } },
    async (req) => deps.sites.list(orgOf(req).id),
  );
  app.delete<{ Params: { org: string; slug: string } }>(
    '/v1/orgs/:org/sites/:slug',
    { ...policy({ role: 'admin' }, 'org'), schema: { params: siteParams } },
    async (req) => deps.sites.remove(orgOf(req).id, req.params.slug),
  );
  app.get<{ Querystring: { limit?: number } }>(
    '/v1/audit',
    {
      ...policy('host'),
      schema: {
        querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 10000 } } },
      },
    },
    async (req) => store.identity.auditLog(undefined, req.query.limit ?? 100),
  );
}
