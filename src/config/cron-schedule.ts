import { Cron } from 'croner';

/**
 * Cron schedules: the 5-field syntax of crontab(5) ("minute hour day-of-month month
 * day-of-week", with lists, ranges, steps and JAN-DEC / SUN-SAT names) or a nickname
 * (@hourly, @daily, ...), always in UTC. When both day fields are restricted, a day matching
 * either runs (as in Vixie cron). Parsing and the next-run arithmetic are croner's (no
 * dependencies, used by PM2); what a schedule means and how a wrong one is explained are here.
 */
export const CRON_TIME_ZONE = 'UTC';

const FIELDS = [
  { name: 'minute', takes: '0-59' },
  { name: 'hour', takes: '0-23' },
  { name: 'day-of-month', takes: '1-31' },
  { name: 'month', takes: '1-12 or JAN-DEC' },
  { name: 'day-of-week', takes: '0-7 (0 and 7 are Sunday) or SUN-SAT' },
] as const;

export const CRON_NICKNAMES = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'];

const parsed = new Map<string, Cron>();

function compile(expr: string): Cron {
  let c = parsed.get(expr);
  if (!c) {
    c = new Cron(expr, { mode: '5-part', timezone: CRON_TIME_ZONE });
    if (parsed.size > 10_000) parsed.clear();
    parsed.set(expr, c);
  }
  return c;
}

/** Why `expr` is not a schedule (naming the field that is wrong), or undefined when it is one. */
export function scheduleProblem(expr: string): string | undefined {
  const text = expr.trim();
  if (text.startsWith('@')) {
    return CRON_NICKNAMES.includes(text.toLowerCase())
      ? undefined
      : `unknown nickname ${JSON.stringify(text)}: use one of ${CRON_NICKNAMES.join(', ')}, or 5 fields`;
  }
  const fields = text.split(/\s+/).filter(Boolean);
  if (fields.length !== 5)
    return `expected 5 fields "minute hour day-of-month month day-of-week" (e.g. "*/15 * * * *"), got ${fields.length}`;
  for (const [i, field] of fields.entries()) {
    const alone = fields.map((f, j) => (j === i ? f : '*')).join(' ');
    try {
      compile(alone);
    } catch {
      const f = FIELDS[i] as (typeof FIELDS)[number];
      return `the ${f.name} field ${JSON.stringify(field)} is not valid: it takes ${f.takes}, "*", lists (1,15), ranges (1-5) and steps (*/15, 0-30/10)`;
    }
  }
  try {
    if (compile(fields.join(' ')).nextRun(new Date()) === null) return 'this schedule never comes (no such date)';
  } catch (err) {
    return err instanceof Error ? err.message.replace(/^CronPattern: /, '') : String(err);
  }
  return undefined;
}

function normal(expr: string): string {
  const text = expr.trim();
  return text.startsWith('@') ? text.toLowerCase() : text.split(/\s+/).join(' ');
}

/** The first time after `afterMs` (ms since the epoch) the schedule comes, or null when never. */
export function nextDue(expr: string, afterMs: number): number | null {
  return compile(normal(expr)).nextRun(new Date(afterMs))?.getTime() ?? null;
}

/** The latest time at or before `atMs` the schedule came, if it is no older than `withinMs`. */
export function latestDue(expr: string, atMs: number, withinMs: number): number | undefined {
  const t = compile(normal(expr))
    .previousRuns(1, new Date(Math.floor(atMs / 1000) * 1000 + 1000))[0]
    ?.getTime();
  return t !== undefined && t <= atMs && atMs - t <= withinMs ? t : undefined;
}
