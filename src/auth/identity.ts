import { timingSafeEqual } from 'node:crypto';
import { BerthError } from '../core/errors.js';
import { assertName } from '../core/names.js';
import { atLeast, isRole, weaker, type Principal, type Role } from '../core/roles.js';
import type { Store } from '../store/store.js';
import { FailureLimiter } from './rate-limit.js';
import { acceptInvite, createInvite } from './invites.js';
import { checkPassword, hashPassword, newSecret, sha256, verifyPassword } from './passwords.js';

const DAY = 86_400_000;
const SESSION_MS = 12 * 3_600_000;
/** How a metrics token starts (`berthm_...`): looked up among metrics tokens only. */
const METRICS_PREFIX = 'berthm_';

export interface Credentials {
  /** `Authorization: Bearer <token>`. */
  readonly bearer?: string | undefined;
  /** The dashboard's session cookie, and the CSRF token that state-changing requests carry with it. */
  readonly session?: string | undefined;
  readonly csrf?: string | undefined;
  readonly method: string;
}

/**
 * Users, passwords, API tokens, sessions, organisations, memberships and invites. Secrets
 * (tokens, sessions, invites) are random 256-bit values shown once; only their SHA-256 is
 * stored. Passwords are argon2id hashes. Roles never grow past the grantor's.
 */
export class Identity {
  readonly #store: Store;
  readonly #perAccount = new FailureLimiter(5, 15 * 60_000);
  readonly #perAddress = new FailureLimiter(20, 15 * 60_000);

  constructor(store: Store) {
    this.#store = store;
  }

  /** On the host only (the route says so): the first admin, and any user after. */
  async createUser(
    name: string,
    password: string,
    org?: { name: string; role: Role },
  ): Promise<{ user: string; org?: string; role?: Role }> {
    assertName('user', name);
    checkPassword(password);
    if (await this.#store.identity.user(name)) throw new BerthError('conflict', 'user_exists', `user "${name}" exists`);
    const passwordHash = await hashPassword(password);
    return this.#store.write(async (r) => {
      const now = Date.now();
      const id = await r.identity.createUser(name, passwordHash, now);
      if (!org) return { user: name };
      const o = await r.identity.org(org.name);
      if (!o)
        throw new BerthError('not_found', 'org_not_found', `no organisation "${org.name}"`, {
          hint: 'berth org create <name>',
        });
      await r.identity.setRole(o.id, id, org.role, now);
      return { user: name, org: org.name, role: org.role };
    });
  }

  async createOrg(name: string): Promise<{ org: string }> {
    assertName('organisation', name);
    if (await this.#store.identity.org(name))
      throw new BerthError('conflict', 'org_exists', `organisation "${name}" exists`);
    await this.#store.write((r) => r.identity.createOrg(name, Date.now()));
    return { org: name };
  }

  /**
   * Checks a password; rate-limited per account and per client address (5 and 20 failures
   * in 15 minutes). Returns an API token (and, for the dashboard, a session with its CSRF token).
   */
  async login(
    name: string,
    password: string,
    address: string,
    opts: { session?: boolean; expiresInMs?: number } = {},
  ): Promise<{ token: string; expiresAt: number; csrf?: string; user: string }> {
    const wait = Math.max(this.#perAccount.retryAfter(name), this.#perAddress.retryAfter(address));
    if (wait > 0)
      throw new BerthError(
        'rate_limited',
        'too_many_attempts',
        `too many failed sign-ins; try again in ${Math.ceil(wait / 1000)} s`,
        { details: { retryAfterMs: wait } },
      );
    // Every attempt counts as a failure until its password checks out: parallel guesses cannot all slip past the limit.
    const pendingAccount = this.#perAccount.fail(name);
    const pendingAddress = this.#perAddress.fail(address);
    const user = await this.#store.identity.user(name);
    const ok = await verifyPassword(user?.passwordHash, password);
    if (!user || !ok) throw new BerthError('unauthorized', 'bad_credentials', 'wrong user name or password');
    this.#perAccount.forgive(name, pendingAccount);
    this.#perAddress.forgive(address, pendingAddress);
    this.#perAccount.succeed(name);
    const now = Date.now();
    const token = newSecret(opts.session ? 'berths' : 'bertht');
    // Random, not derived from the session: the cookie goes to every port of its host (an app
    // there may see it), and the cookie alone must not be enough to change anything.
    const csrf = opts.session ? newSecret('berthc') : undefined;
    if (opts.expiresInMs !== undefined && (opts.expiresInMs <= 0 || opts.expiresInMs > 365 * DAY))
      throw new BerthError('invalid', 'bad_expiry', 'a sign-in token expires within 1 s to 365 days');
    const expiresAt = now + (opts.session ? SESSION_MS : (opts.expiresInMs ?? 30 * DAY));
    await this.#store.write((r) =>
      r.identity.createToken({
        userId: user.id,
        kind: opts.session ? 'session' : 'api',
        name: opts.session ? 'dashboard session' : 'berth login',
        secretHash: sha256(token),
        csrfHash: csrf ? sha256(csrf) : null,
        orgId: null,
        roleCeiling: null,
        expiresAt,
        now,
      }),
    );
    return { token, expiresAt, user: user.name, ...(csrf ? { csrf } : {}) };
  }

  /** Who presents these credentials; anonymous when none. A bad, expired or CSRF-less credential is an error, never anonymous. */
  async authenticate(c: Credentials): Promise<Principal> {
    const presented = c.bearer ?? c.session;
    if (presented === undefined) return { kind: 'anonymous' };
    if (c.bearer?.startsWith(METRICS_PREFIX)) return this.#metricsPrincipal(c.bearer);
    const row = await this.#store.identity.tokenByHash(sha256(presented));
    const now = Date.now();
    if (
      !row ||
      row.expiresAt <= now ||
      (c.bearer !== undefined && row.kind !== 'api') ||
      (c.bearer === undefined && row.kind !== 'session')
    ) {
      throw new BerthError('unauthorized', 'bad_token', 'the token or session is unknown or expired', {
        hint: 'sign in again: berth login <url>',
      });
    }
    if (row.kind === 'session' && !['GET', 'HEAD', 'OPTIONS'].includes(c.method)) {
      const expected = Buffer.from(row.csrfHash ?? '', 'hex');
      const got = Buffer.from(sha256(c.csrf ?? ''), 'hex');
      if (c.csrf === undefined || expected.length !== got.length || !timingSafeEqual(expected, got))
        throw new BerthError('forbidden', 'csrf', 'missing or wrong X-CSRF-Token for a session request');
    }
    if (row.lastUsedAt === null || now - row.lastUsedAt > 60_000) await this.#store.identity.touchToken(row.id, now);
    return {
      kind: 'user',
      userId: row.userId,
      name: row.userName,
      scope: { orgId: row.orgId, ceiling: isRole(row.roleCeiling) ? row.roleCeiling : null },
      via: row.kind === 'api' ? 'token' : 'session',
      tokenId: row.id,
      expiresAt: row.expiresAt,
    };
  }

  async #metricsPrincipal(bearer: string): Promise<Principal> {
    const row = await this.#store.metrics.tokenByHash(sha256(bearer));
    const now = Date.now();
    if (!row || row.expiresAt <= now)
      throw new BerthError('unauthorized', 'bad_token', 'the metrics token is unknown or expired', {
        hint: 'as root on the host: berth metrics token <name>',
      });
    if (row.lastUsedAt === null || now - row.lastUsedAt > 60_000) await this.#store.metrics.touchToken(row.id, now);
    return { kind: 'metrics', tokenId: row.id, name: row.name };
  }

  /** A token that reads GET /metrics only (the whole host's: the host admin makes it, over the unix socket). */
  async createMetricsToken(
    name: string,
    expiresInMs = 365 * DAY,
  ): Promise<{ id: number; token: string; expiresAt: number }> {
    if (expiresInMs <= 0 || expiresInMs > 365 * DAY)
      throw new BerthError('invalid', 'bad_expiry', 'a token expires within 1 s to 365 days', {
        hint: 'e.g. --expires 30d',
      });
    const token = newSecret(METRICS_PREFIX.slice(0, -1));
    const now = Date.now();
    const expiresAt = now + expiresInMs;
    const id = await this.#store.write((r) =>
      r.metrics.createToken({ name, secretHash: sha256(token), expiresAt, now }),
    );
    return { id, token, expiresAt };
  }

  /**
   * A new API token for the user, narrowed to one organisation and a role ceiling if asked;
   * never wider than the token that asks (a scoped token cannot mint an unscoped one).
   */
  async createToken(
    p: Principal,
    req: { name: string; org?: string | undefined; role?: Role | undefined; expiresInMs?: number | undefined },
  ): Promise<{ id: number; token: string; expiresAt: number; org: string | null; role: Role | null }> {
    if (p.kind !== 'user')
      throw new BerthError('forbidden', 'users_only', 'tokens belong to users: sign in as one (berth login)');
    let orgId: number | null = p.scope.orgId;
    if (req.org !== undefined) {
      const org = await this.#store.identity.org(req.org);
      const role = org ? await this.#store.identity.role(org.id, p.userId) : undefined;
      if (!org || !role || (p.scope.orgId !== null && p.scope.orgId !== org.id))
        throw new BerthError('not_found', 'org_not_found', `no organisation "${req.org}"`);
      orgId = org.id;
    }
    const ceiling: Role | null = req.role !== undefined ? weaker(req.role, p.scope.ceiling) : p.scope.ceiling;
    if (req.role !== undefined && p.scope.ceiling !== null && !atLeast(p.scope.ceiling, req.role)) {
      throw new BerthError(
        'forbidden',
        'scope_escalation',
        `this token is limited to ${p.scope.ceiling}; it cannot make a token for ${req.role}`,
      );
    }
    const maxMs = 365 * DAY;
    const expiresInMs = req.expiresInMs ?? 90 * DAY;
    if (expiresInMs <= 0 || expiresInMs > maxMs)
      throw new BerthError('invalid', 'bad_expiry', 'a token expires within 1 s to 365 days', {
        hint: 'e.g. --expires 30d',
      });
    const token = newSecret('bertht');
    const now = Date.now();
    // Never outlives the credential that made it: a short-lived or scoped token cannot mint a lasting one.
    const expiresAt = Math.min(now + expiresInMs, p.expiresAt);
    const id = await this.#store.write((r) =>
      r.identity.createToken({
        userId: p.userId,
        kind: 'api',
        name: req.name,
        secretHash: sha256(token),
        csrfHash: null,
        orgId,
        roleCeiling: ceiling,
        expiresAt,
        now,
      }),
    );
    const org = orgId === null ? null : ((await this.#store.identity.orgById(orgId))?.name ?? null);
    return { id, token, expiresAt, org, role: ceiling };
  }

  /** An invite into an organisation (see invites.ts): single use, expiring, for at most the inviter's role. */
  invite(orgId: number, inviter: Principal, inviterRole: Role, role: Role, expiresInMs: number) {
    return createInvite(this.#store, orgId, inviter, inviterRole, role, expiresInMs);
  }

  /** Accepts an invite (see invites.ts): as the signed-in user, or as a new user with a name and password. */
  accept(inviteSecret: string, p: Principal, newUser?: { name: string; password: string }) {
    return acceptInvite(this.#store, inviteSecret, p, newUser);
  }

  /** Sets a member's role: only up to the caller's own; an owner's role only by an owner; never the last owner away. */
  async setRole(
    orgId: number,
    callerRole: Role,
    userName: string,
    role: Role | null,
  ): Promise<{ user: string; role: Role | null }> {
    const user = await this.#store.identity.user(userName);
    const current = user ? await this.#store.identity.role(orgId, user.id) : undefined;
    if (!user || (!current && role === null))
      throw new BerthError('not_found', 'member_not_found', `"${userName}" is not a member`);
    if (role !== null && !atLeast(callerRole, role))
      throw new BerthError('forbidden', 'role_escalation', `you are ${callerRole}: you cannot make anyone ${role}`);
    if (current === 'owner' && callerRole !== 'owner')
      throw new BerthError('forbidden', 'owner_only', 'only an owner changes an owner');
    return this.#store.write(async (r) => {
      if (current === 'owner' && role !== 'owner') {
        const owners = (await r.identity.members(orgId)).filter((m) => m.role === 'owner').length;
        if (owners <= 1)
          throw new BerthError('conflict', 'last_owner', 'an organisation keeps at least one owner', {
            hint: 'make someone else owner first',
          });
      }
      if (role === null) await r.identity.removeMember(orgId, user.id);
      else await r.identity.setRole(orgId, user.id, role, Date.now());
      return { user: userName, role };
    });
  }
}
