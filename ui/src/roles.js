// What the page offers a role. The API decides; the page only leaves out what it would refuse (src/api/*-routes.ts).
const RANK = { viewer: 1, member: 2, admin: 3, owner: 4 };

/**
 * Whether `role` (the user's role in the app's organisation; undefined for root on the host, who may do
 * everything) reaches `need`.
 */
export function may(role, need) {
  if (role === undefined) return true;
  return (RANK[role] ?? 0) >= RANK[need];
}

/** The role a signed-in user has in `org`; undefined when the page is used by root on the host. */
export function roleIn(me, org) {
  if (!me?.user) return undefined;
  return (me.orgs ?? []).find((o) => o.name === org)?.role ?? 'none';
}
