import type { IncidentRow } from '../store/alerts-repo.js';

/** What the alert rules watch. */
export type RuleName = 'crashloop' | 'unhealthy' | 'deploy_failed' | 'doctor_error' | 'certificate' | 'backup' | 'disk';

/** A rule's condition holding now for one subject (a service, an environment, a host, a disk). */
export interface Condition {
  readonly rule: RuleName;
  /** With the rule, the incident's key: "app/env/service", "app/env", a host name, a path. */
  readonly subject: string;
  readonly app?: string | undefined;
  readonly env?: string | undefined;
  readonly service?: string | undefined;
  readonly message: string;
}

/** What one look at the conditions changes: incidents opened, still seen, resolved; when to look again. */
export interface Reconciled {
  readonly opened: IncidentRow[];
  readonly seen: IncidentRow[];
  readonly resolved: IncidentRow[];
  /** When a pending incident is due to be resolved, if one is. */
  readonly nextAt: number | undefined;
}

/**
 * One incident per (rule, subject): a condition without an open incident opens one; an open
 * incident whose condition holds is seen again; one whose condition has been absent for
 * `resolveAfterMs` since it was last seen is resolved. So a flapping condition (a crashloop
 * between restarts, a check that fails every other time) stays one incident, and at most one
 * alert and one "resolved" go out per `resolveAfterMs` and subject. Only incidents of the rules
 * that were looked at (`looked`) can be resolved: the doctor's rules are looked at less often.
 */
export function reconcile(
  now: number,
  looked: ReadonlySet<RuleName>,
  conditions: readonly Condition[],
  open: readonly IncidentRow[],
  resolveAfterMs: number,
): Reconciled {
  const key = (x: { rule: string; subject: string }) => `${x.rule}\0${x.subject}`;
  const openByKey = new Map(open.map((i) => [key(i), i]));
  const holding = new Set<string>();
  const opened: IncidentRow[] = [];
  const seen: IncidentRow[] = [];
  for (const c of conditions) {
    const k = key(c);
    if (holding.has(k)) continue; // a second instance of the same service: the same incident
    holding.add(k);
    const incident = openByKey.get(k);
    if (incident) seen.push({ ...incident, lastSeen: now });
    else
      opened.push({
        rule: c.rule,
        subject: c.subject,
        app: c.app ?? null,
        env: c.env ?? null,
        service: c.service ?? null,
        message: c.message,
        openedAt: now,
        lastSeen: now,
      });
  }
  const resolved: IncidentRow[] = [];
  let nextAt: number | undefined;
  for (const i of open) {
    if (holding.has(key(i)) || !looked.has(i.rule as RuleName)) continue;
    const due = i.lastSeen + resolveAfterMs;
    if (now >= due) resolved.push(i);
    else nextAt = Math.min(nextAt ?? due, due);
  }
  return { opened, seen, resolved, nextAt };
}
