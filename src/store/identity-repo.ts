import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

export interface OrgRow {
  readonly id: number;
  readonly name: string;
  readonly maxApps: number | null;
  readonly maxInstances: number | null;
}

export interface UserRow {
  readonly id: number;
  readonly name: string;
  readonly passwordHash: string;
}

export interface TokenRow {
  readonly id: number;
  readonly userId: number;
  readonly userName: string;
  readonly kind: 'api' | 'session';
  readonly name: string;
  readonly csrfHash: string | null;
  readonly orgId: number | null;
  readonly roleCeiling: string | null;
  readonly expiresAt: number;
  readonly createdAt: number;
  readonly lastUsedAt: number | null;
}

export interface InviteRow {
  readonly id: number;
  readonly orgId: number;
  readonly org: string;
  readonly role: string;
  readonly createdBy: number | null;
  readonly expiresAt: number;
  readonly usedAt: number | null;
}

export interface AuditRecord {
  readonly at: number;
  readonly actor: string;
  readonly org: string | null;
  readonly action: string;
  readonly target: string;
  readonly outcome: string;
}

/** Organisations, users, memberships, tokens, invites and the audit log (sites: sites-repo.ts). */
export class IdentityRepo {
  readonly #db: Kysely<Database>;
  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  #orgs() {
    return this.#db.selectFrom('orgs').select(['id', 'name', 'max_apps as maxApps', 'max_instances as maxInstances']);
  }

  async org(name: string): Promise<OrgRow | undefined> {
    return this.#orgs().where('name', '=', name).executeTakeFirst();
  }

  async orgById(id: number): Promise<OrgRow | undefined> {
    return this.#orgs().where('id', '=', id).executeTakeFirst();
  }

  async createOrg(name: string, now: number): Promise<number> {
    return (
      await this.#db
        .insertInto('orgs')
        .values({ name, created_at: now, max_apps: null, max_instances: null })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
  }

  async setQuota(orgId: number, quota: { maxApps: number | null; maxInstances: number | null }): Promise<void> {
    await this.#db
      .updateTable('orgs')
      .set({ max_apps: quota.maxApps, max_instances: quota.maxInstances })
      .where('id', '=', orgId)
      .execute();
  }

  /** Every organisation, or those `userId` belongs to, with the role. */
  async orgs(userId?: number): Promise<Array<OrgRow & { role: string | null }>> {
    if (userId === undefined) return (await this.#orgs().orderBy('name').execute()).map((o) => ({ ...o, role: null }));
    return this.#db
      .selectFrom('orgs as o')
      .innerJoin('memberships as m', 'm.org_id', 'o.id')
      .select(['o.id', 'o.name', 'o.max_apps as maxApps', 'o.max_instances as maxInstances', 'm.role'])
      .where('m.user_id', '=', userId)
      .orderBy('o.name')
      .execute();
  }

  async user(name: string): Promise<UserRow | undefined> {
    return this.#db
      .selectFrom('users')
      .select(['id', 'name', 'password_hash as passwordHash'])
      .where('name', '=', name)
      .executeTakeFirst();
  }

  async createUser(name: string, passwordHash: string, now: number): Promise<number> {
    return (
      await this.#db
        .insertInto('users')
        .values({ name, password_hash: passwordHash, created_at: now })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
  }

  async role(orgId: number, userId: number): Promise<string | undefined> {
    return (
      await this.#db
        .selectFrom('memberships')
        .select('role')
        .where('org_id', '=', orgId)
        .where('user_id', '=', userId)
        .executeTakeFirst()
    )?.role;
  }

  async setRole(orgId: number, userId: number, role: string, now: number): Promise<void> {
    await this.#db
      .insertInto('memberships')
      .values({ org_id: orgId, user_id: userId, role, created_at: now })
      .onConflict((oc) => oc.columns(['org_id', 'user_id']).doUpdateSet({ role }))
      .execute();
  }

  async removeMember(orgId: number, userId: number): Promise<void> {
    await this.#db.deleteFrom('memberships').where('org_id', '=', orgId).where('user_id', '=', userId).execute();
  }

  async members(orgId: number): Promise<Array<{ user: string; role: string; since: number }>> {
    return this.#db
      .selectFrom('memberships as m')
      .innerJoin('users as u', 'u.id', 'm.user_id')
      .select(['u.name as user', 'm.role', 'm.created_at as since'])
      .where('m.org_id', '=', orgId)
      .orderBy('u.name')
      .execute();
  }

  async createToken(t: {
    userId: number;
    kind: 'api' | 'session';
    name: string;
    secretHash: string;
    csrfHash: string | null;
    orgId: number | null;
    roleCeiling: string | null;
    expiresAt: number;
    now: number;
  }): Promise<number> {
    return (
      await this.#db
        .insertInto('tokens')
        .values({
          user_id: t.userId,
          kind: t.kind,
          name: t.name,
          secret_hash: t.secretHash,
          csrf_hash: t.csrfHash,
          org_id: t.orgId,
          role_ceiling: t.roleCeiling,
          expires_at: t.expiresAt,
          created_at: t.now,
          last_used_at: null,
        })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
  }

  #tokens() {
    return this.#db
      .selectFrom('tokens as t')
      .innerJoin('users as u', 'u.id', 't.user_id')
      .select([
        't.id',
        't.user_id as userId',
        'u.name as userName',
        't.kind',
        't.name',
        't.csrf_hash as csrfHash',
        't.org_id as orgId',
        't.role_ceiling as roleCeiling',
        't.expires_at as expiresAt',
        't.created_at as createdAt',
        't.last_used_at as lastUsedAt',
      ]);
  }

  async tokenByHash(secretHash: string): Promise<TokenRow | undefined> {
    return (await this.#tokens().where('t.secret_hash', '=', secretHash).executeTakeFirst()) as TokenRow | undefined;
  }

  async tokens(userId: number): Promise<TokenRow[]> {
    return (await this.#tokens()
      .where('t.user_id', '=', userId)
      .where('t.kind', '=', 'api')
      .orderBy('t.id')
      .execute()) as TokenRow[];
  }

  async touchToken(id: number, now: number): Promise<void> {
    await this.#db.updateTable('tokens').set({ last_used_at: now }).where('id', '=', id).execute();
  }

  /** Deletes one of the user's own tokens; true when there was one. */
  async deleteToken(id: number, userId: number): Promise<boolean> {
    const r = await this.#db.deleteFrom('tokens').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async deleteExpiredTokens(now: number): Promise<void> {
    await this.#db.deleteFrom('tokens').where('expires_at', '<', now).execute();
  }

  async createInvite(i: {
    orgId: number;
    role: string;
    secretHash: string;
    createdBy: number | null;
    expiresAt: number;
    now: number;
  }): Promise<number> {
    return (
      await this.#db
        .insertInto('invites')
        .values({
          org_id: i.orgId,
          role: i.role,
          secret_hash: i.secretHash,
          created_by: i.createdBy,
          expires_at: i.expiresAt,
          created_at: i.now,
          used_at: null,
          used_by: null,
        })
        .returning('id')
        .executeTakeFirstOrThrow()
    ).id;
  }

  async inviteByHash(secretHash: string): Promise<InviteRow | undefined> {
    return this.#db
      .selectFrom('invites as i')
      .innerJoin('orgs as o', 'o.id', 'i.org_id')
      .select([
        'i.id',
        'i.org_id as orgId',
        'o.name as org',
        'i.role',
        'i.created_by as createdBy',
        'i.expires_at as expiresAt',
        'i.used_at as usedAt',
      ])
      .where('i.secret_hash', '=', secretHash)
      .executeTakeFirst();
  }

  /** Marks the invite used, only if nobody has: true for exactly one caller. */
  async useInvite(id: number, userId: number, now: number): Promise<boolean> {
    const r = await this.#db
      .updateTable('invites')
      .set({ used_at: now, used_by: userId })
      .where('id', '=', id)
      .where('used_at', 'is', null)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async audit(a: AuditRecord): Promise<void> {
    await this.#db.insertInto('audit').values(a).execute();
  }

  async auditLog(org: string | undefined, limit: number): Promise<AuditRecord[]> {
    let q = this.#db
      .selectFrom('audit')
      .select(['at', 'actor', 'org', 'action', 'target', 'outcome'])
      .orderBy('id', 'desc')
      .limit(limit);
    if (org !== undefined) q = q.where('org', '=', org);
    return (await q.execute()).reverse();
  }
}
