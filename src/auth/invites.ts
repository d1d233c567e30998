import { BerthError } from '../core/errors.js';
import { assertName } from '../core/names.js';
import { atLeast, isRole, weaker, type Principal, type Role } from '../core/roles.js';
import type { Store } from '../store/store.js';
import { checkPassword, hashPassword, newSecret, sha256 } from './passwords.js';

const DAY = 86_400_000;

/**
 * An invite into an organisation: single use, expiring, for a role no higher than the
 * inviter's own (owners invite owners; admins at most admins).
 */
export async function createInvite(
  store: Store,
  orgId: number,
  inviter: Principal,
  inviterRole: Role,
  role: Role,
  expiresInMs: number,
): Promise<{ invite: string; role: Role; expiresAt: number }> {
  if (!atLeast(inviterRole, role))
    throw new BerthError(
      'forbidden',
      'role_escalation',
      `you are ${inviterRole} in this organisation: you cannot invite a ${role}`,
    );
  if (expiresInMs <= 0 || expiresInMs > 30 * DAY)
    throw new BerthError('invalid', 'bad_expiry', 'an invite expires within 1 s to 30 days');
  const invite = newSecret('berthi');
  const now = Date.now();
  await store.write((r) =>
    r.identity.createInvite({
      orgId,
      role,
      secretHash: sha256(invite),
      createdBy: inviter.kind === 'user' ? inviter.userId : null,
      expiresAt: now + expiresInMs,
      now,
    }),
  );
  return { invite, role, expiresAt: now + expiresInMs };
}

/**
 * Accepts an invite: as the signed-in user, or as a new user with a name and password.
 * Exactly one caller can use an invite; an expired or used one is refused. It grants at most
 * the inviter's role when it is accepted (a demoted inviter's invites shrink with them; a
 * removed one's grant nothing). An existing member keeps a higher role than the invite's.
 */
export async function acceptInvite(
  store: Store,
  inviteSecret: string,
  p: Principal,
  newUser?: { name: string; password: string },
): Promise<{ org: string; role: Role; user: string }> {
  const inv = await store.identity.inviteByHash(sha256(inviteSecret));
  const now = Date.now();
  if (!inv || inv.usedAt !== null || inv.expiresAt <= now || !isRole(inv.role))
    throw new BerthError('not_found', 'invite_invalid', 'this invite is unknown, used or expired', {
      hint: 'ask for a new one',
    });
  let passwordHash: string | undefined;
  if (p.kind !== 'user') {
    if (!newUser)
      throw new BerthError(
        'unauthorized',
        'sign_in_or_register',
        'sign in to accept this invite, or give a new user name and password',
      );
    assertName('user', newUser.name);
    checkPassword(newUser.password);
    passwordHash = await hashPassword(newUser.password);
  }
  return store.write(async (r) => {
    // At most the inviter's role now, not when they invited (null: root on the host made it).
    const inviterRole = inv.createdBy === null ? inv.role : await r.identity.role(inv.orgId, inv.createdBy);
    if (!inviterRole || !isRole(inviterRole))
      throw new BerthError(
        'forbidden',
        'inviter_gone',
        `whoever made this invite is no longer a member of ${inv.org}: it grants nothing`,
        { hint: `ask a member of ${inv.org} for a new invite` },
      );
    const role = weaker(inv.role as Role, inviterRole);
    let userId: number;
    let user: string;
    if (p.kind === 'user') {
      userId = p.userId;
      user = p.name;
    } else {
      const name = (newUser as { name: string }).name;
      if (await r.identity.user(name))
        throw new BerthError('conflict', 'user_exists', `user "${name}" exists: sign in as them to accept`);
      userId = await r.identity.createUser(name, passwordHash as string, now);
      user = name;
    }
    if (!(await r.identity.useInvite(inv.id, userId, now)))
      throw new BerthError('not_found', 'invite_invalid', 'this invite is unknown, used or expired', {
        hint: 'ask for a new one',
      });
    const current = await r.identity.role(inv.orgId, userId);
    if (!current || !isRole(current) || !atLeast(current, role)) await r.identity.setRole(inv.orgId, userId, role, now);
    return { org: inv.org, role: current && isRole(current) && atLeast(current, role) ? current : role, user };
  });
}
