import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Identity } from '../auth/identity.js';
import { BerthError } from '../core/errors.js';
import { decide, isRole, type Need, type Principal, type Role } from '../core/roles.js';
import type { Store } from '../store/store.js';

/**
 * Which resource a route names, whose organisation decides: `:app`, `:org`, or none. `new-app`: the
 * app `:app`, or, when no app has that name, the organisation the body names (`org`, default
 * "default"), where the route registers it: decided once the body is read, before it is validated.
 */
export type Resource = 'app' | 'org' | 'none' | 'new-app';

declare module 'fastify' {
  interface FastifyContextConfig {
    need?: Need;
    resource?: Resource;
  }
  interface FastifyRequest {
    principal: Principal;
    /** The organisation of the resource the route names, once authorized. */
    scopeOrg: { readonly id: number; readonly name: string } | undefined;
    /** The caller's effective role there (owner for root on the host). */
    role: Role | undefined;
    /** What a route adds to its audit record: more of its target (a command run), an outcome besides the status. */
    audit: { detail?: string; outcome?: string } | undefined;
    /** A `new-app` route's app is not registered: `scopeOrg` is the organisation the body names, where it goes. */
    registering: boolean;
  }
}

/** A route's policy, as `config` of its options. Every route has one, or berthd does not start. */
export const policy = (need: Need, resource: Resource = 'none') => ({ config: { need, resource } });

/** The dashboard session's secret, from its cookie. */
function sessionCookie(req: FastifyRequest): string | undefined {
  return /(?:^|;\s*)berth_session=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
}

function credentials(req: FastifyRequest): { bearer?: string; session?: string; csrf?: string; method: string } {
  const auth = req.headers.authorization;
  const bearer = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
  const session = sessionCookie(req);
  const csrf = req.headers['x-csrf-token'];
  return {
    method: req.method,
    ...(bearer ? { bearer } : {}),
    ...(session ? { session } : {}),
    ...(typeof csrf === 'string' ? { csrf } : {}),
  };
}

/**
 * The one policy layer: authenticates every request (root over the unix socket is trusted,
 * as with Docker's socket; over TCP a bearer token or a session cookie with its CSRF
 * token), finds the organisation of the resource the route names, and decides with
 * `decide`. Handlers only see authorized requests; lookups of other organisations' apps
 * answer 404. Every change and every sign-in is written to the audit log.
 */
export function installPolicy(app: FastifyInstance, deps: { store: Store; identity: Identity; local: boolean }): void {
  app.decorateRequest('principal', null as never);
  app.decorateRequest('scopeOrg', undefined);
  app.decorateRequest('role', undefined);
  app.decorateRequest('audit', undefined);
  app.decorateRequest('registering', false);
  app.addHook('onRoute', (route) => {
    if (!route.config?.need)
      throw new Error(`route ${String(route.method)} ${route.url} has no policy: add policy(...) to its options`);
    if (route.config.resource === 'new-app' && typeof route.config.need !== 'object')
      throw new Error(`route ${String(route.method)} ${route.url}: a new-app resource needs a role`);
  });
  app.addHook('onRequest', async (req) => {
    const cfg = req.routeOptions.config;
    if (!cfg.need) {
      req.principal = deps.local ? { kind: 'local' } : { kind: 'anonymous' };
      return; // no route: Fastify answers 404
    }
    // A public route answers anyone: a stale cookie or token there counts as none (so signing in again replaces it).
    const who = deps.local ? ({ kind: 'local' } as const) : deps.identity.authenticate(credentials(req));
    const refused = (err: unknown) =>
      err instanceof BerthError && (err.kind === 'unauthorized' || err.kind === 'forbidden');
    const orAnonymous = async (): Promise<Principal> => {
      try {
        return await who;
      } catch (err) {
        if (refused(err)) return { kind: 'anonymous' };
        throw err;
      }
    };
    req.principal = cfg.need === 'public' ? await orAnonymous() : await who;
    const params = req.params as Record<string, string | undefined>;
    let org: { id: number; name: string } | undefined;
    if ((cfg.resource === 'app' || cfg.resource === 'new-app') && params.app !== undefined) {
      const row = await deps.store.apps.find(params.app);
      if (row) org = { id: row.orgId, name: row.org };
      else if (cfg.resource === 'new-app' && req.principal.kind === 'user') {
        req.registering = true; // decided by the organisation its body names (preValidation)
        return;
      }
    } else if (cfg.resource === 'org' && params.org !== undefined) {
      const row = await deps.store.identity.org(params.org);
      if (row) org = { id: row.id, name: row.name };
    }
    const p = req.principal;
    const membership = p.kind === 'user' && org ? await deps.store.identity.role(org.id, p.userId) : undefined;
    const d = decide(p, cfg.need, org?.id, isRole(membership) ? membership : undefined);
    req.scopeOrg = org; // refusals are audited in the organisation too
    if (!d.allow) {
      const kind = d.status === 401 ? 'unauthorized' : d.status === 403 ? 'forbidden' : 'not_found';
      const what =
        cfg.resource === 'app'
          ? `no app named "${params.app}"`
          : cfg.resource === 'org'
            ? `no organisation "${params.org}"`
            : d.why;
      throw new BerthError(
        kind,
        kind === 'not_found' ? `${cfg.resource}_not_found` : kind,
        d.status === 404 ? what : d.why,
      );
    }
    req.role = d.role;
  });
  app.addHook('preValidation', async (req) => {
    const need = req.routeOptions.config.need;
    if (!req.registering || !need) return;
    const named = (req.body as { org?: unknown } | undefined)?.org;
    const orgName = typeof named === 'string' ? named : 'default';
    const row = await deps.store.identity.org(orgName);
    const org = row && { id: row.id, name: row.name };
    const p = req.principal;
    const membership = p.kind === 'user' && org ? await deps.store.identity.role(org.id, p.userId) : undefined;
    const d = decide(p, need, org?.id, isRole(membership) ? membership : undefined);
    req.scopeOrg = org;
    if (!d.allow) {
      const app = (req.params as { app?: string }).app;
      if (d.status !== 404)
        throw new BerthError('forbidden', 'forbidden', `registering an app in ${orgName}: ${d.why}`);
      throw new BerthError(
        'not_found',
        'app_not_found',
        `no app named "${app}", and no organisation "${orgName}" of yours to register it in`,
        { hint: `name yours with --org <org>` },
      );
    }
    req.role = d.role;
  });
  app.addHook('onResponse', async (req, reply) => {
    const url = req.routeOptions.url;
    if (!url || (['GET', 'HEAD'].includes(req.method) && url !== '/v1/login')) return;
    const p = req.principal as Principal | null; // null when the request was refused before it was authenticated
    const actor = p?.kind === 'user' ? `user:${p.name}` : (p?.kind ?? 'anonymous');
    const target =
      Object.entries((req.params ?? {}) as Record<string, string>)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ') || '-';
    const extra = req.audit;
    await deps.store.identity
      .audit({
        at: Date.now(),
        actor,
        org: req.scopeOrg?.name ?? null,
        action: `${req.method} ${url}`,
        target: extra?.detail ? `${target} ${extra.detail}` : target,
        outcome: extra?.outcome ? `${reply.statusCode} ${extra.outcome}` : String(reply.statusCode),
      })
      .catch(() => undefined);
  });
}

/** The organisations whose resources the caller may list: undefined for root on the host (all). */
export async function visibleOrgs(store: Store, p: Principal): Promise<number[] | undefined> {
  if (p.kind === 'local') return undefined;
  if (p.kind !== 'user') return [];
  return (await store.identity.orgs(p.userId))
    .map((o) => o.id)
    .filter((id) => p.scope.orgId === null || id === p.scope.orgId);
}

/**
 * For a resource a route finds from its body rather than its path (an app named in a
 * deployment request): the same decision, by `decide`, as for a route's own resource.
 */
export async function authorizeIn(
  store: Store,
  p: Principal,
  org: { id: number; name: string } | undefined,
  need: Role,
  notFound: string,
): Promise<void> {
  const membership = org && p.kind === 'user' ? await store.identity.role(org.id, p.userId) : undefined;
  const d = decide(p, { role: need }, org?.id, isRole(membership) ? membership : undefined);
  if (d.allow) return;
  const kind = d.status === 401 ? 'unauthorized' : d.status === 403 ? 'forbidden' : 'not_found';
  throw new BerthError(kind, kind, d.status === 404 ? notFound : d.why);
}

/** For a check that depends on the request (e.g. `--force`): the caller's role must be at least `need`. */
export function requireRole(req: FastifyRequest, need: Role, what: string): void {
  const d = decide(
    req.principal,
    { role: need },
    req.scopeOrg?.id,
    req.principal.kind === 'local' ? 'owner' : req.role,
  );
  if (!d.allow) throw new BerthError('forbidden', 'forbidden', `${what} needs the ${need} role`);
}
