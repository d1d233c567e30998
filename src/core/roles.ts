/**
 * Roles in an organisation, weakest first. Every authorization decision is made by
 * `decide`, over a principal and what a route needs; routes never compare roles themselves.
 */
export const ROLES = ['viewer', 'member', 'admin', 'owner'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

export function rank(role: Role): number {
  return ROLES.indexOf(role);
}

export function atLeast(role: Role, need: Role): boolean {
  return rank(role) >= rank(need);
}

/** The weaker of two roles (a token's ceiling over a membership). */
export function weaker(a: Role, b: Role | null): Role {
  return b === null || rank(a) <= rank(b) ? a : b;
}

/** Who is asking. */
export type Principal =
  | { readonly kind: 'local' }
  | { readonly kind: 'anonymous' }
  /** A metrics token (made by the host admin): it reads GET /metrics and nothing else. */
  | { readonly kind: 'metrics'; readonly tokenId: number; readonly name: string }
  | {
      readonly kind: 'user';
      readonly userId: number;
      readonly name: string;
      readonly scope: { readonly orgId: number | null; readonly ceiling: Role | null };
      readonly via: 'token' | 'session';
      readonly tokenId: number;
      readonly expiresAt: number;
    };

/**
 * What a route needs: 'public' (anyone), 'authenticated' (any signed-in user), 'host'
 * (only root on the host, over the unix socket), or a role in the organisation of the
 * resource the route names; 'metrics': root on the host or a metrics token (GET /metrics).
 */
export type Need = 'public' | 'authenticated' | 'host' | 'metrics' | { readonly role: Role };

export type Decision =
  | { readonly allow: true; readonly role?: Role }
  | { readonly allow: false; readonly status: 401 | 403 | 404; readonly why: string };

/**
 * `membership` is the principal's role in the resource's organisation (undefined: none,
 * or no such resource). Someone outside the organisation gets 404, as if it did not exist:
 * names of other organisations' apps are not disclosed.
 */
export function decide(
  p: Principal,
  need: Need,
  resourceOrg: number | undefined,
  membership: Role | undefined,
): Decision {
  if (p.kind === 'local') return { allow: true, role: 'owner' };
  if (need === 'public') return { allow: true };
  if (p.kind === 'anonymous')
    return { allow: false, status: 401, why: 'sign in first: berth login <url>, or an Authorization: Bearer token' };
  if (need === 'metrics')
    return p.kind === 'metrics'
      ? { allow: true }
      : { allow: false, status: 403, why: 'needs a metrics token: root on the host makes one (berth metrics token)' };
  if (p.kind === 'metrics') return { allow: false, status: 403, why: 'a metrics token reads GET /metrics only' };
  if (need === 'authenticated') return { allow: true };
  if (need === 'host')
    return { allow: false, status: 403, why: 'only root on the host can do this (over the unix socket)' };
  if (membership === undefined || resourceOrg === undefined) return { allow: false, status: 404, why: 'not found' };
  if (p.scope.orgId !== null && p.scope.orgId !== resourceOrg) return { allow: false, status: 404, why: 'not found' };
  const role = weaker(membership, p.scope.ceiling);
  if (!atLeast(role, need.role))
    return {
      allow: false,
      status: 403,
      why: `needs the ${need.role} role; ${p.via === 'token' && role !== membership ? `this token is limited to ${role}` : `you are ${role}`}`,
    };
  return { allow: true, role };
}
