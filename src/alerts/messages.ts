import type { IncidentRow } from '../store/alerts-repo.js';
import type { Mail } from './smtp-client.js';

/** What one look at the rules has to tell: incidents opened and incidents resolved, on one host. */
export interface AlertBatch {
  readonly host: string;
  readonly at: number;
  readonly firing: readonly IncidentRow[];
  readonly resolved: readonly IncidentRow[];
}

interface Entry {
  readonly status: 'firing' | 'resolved';
  readonly rule: string;
  readonly subject: string;
  readonly app?: string;
  readonly env?: string;
  readonly service?: string;
  readonly message: string;
  readonly since: string;
  readonly resolved_at?: string;
}

function entries(b: AlertBatch): Entry[] {
  const one = (i: IncidentRow, status: Entry['status']): Entry => ({
    status,
    rule: i.rule,
    subject: i.subject,
    ...(i.app !== null ? { app: i.app } : {}),
    ...(i.env !== null ? { env: i.env } : {}),
    ...(i.service !== null ? { service: i.service } : {}),
    message: i.message,
    since: new Date(i.openedAt).toISOString(),
    ...(status === 'resolved' ? { resolved_at: new Date(b.at).toISOString() } : {}),
  });
  return [...b.firing.map((i) => one(i, 'firing')), ...b.resolved.map((i) => one(i, 'resolved'))];
}

/** Generic webhook: {"source":"berth","host","alerts":[{status,rule,subject,app,env,service,message,since,resolved_at}]}. */
export function webhookBody(b: AlertBatch): string {
  return JSON.stringify({ source: 'berth', host: b.host, alerts: entries(b) });
}

function lines(b: AlertBatch): string[] {
  return entries(b).map((e) => `${e.status === 'firing' ? 'FIRING' : 'RESOLVED'} ${e.rule} ${e.subject}: ${e.message}`);
}

function title(b: AlertBatch): string {
  const parts = [
    b.firing.length ? `${b.firing.length} firing` : '',
    b.resolved.length ? `${b.resolved.length} resolved` : '',
  ].filter(Boolean);
  const first = b.firing[0] ?? b.resolved[0];
  return `[berth ${b.host}] ${parts.join(', ')}${first ? `: ${first.rule} ${first.subject}` : ''}`;
}

/**
 * Slack's incoming webhooks read `text`; Discord's read `content` (and ignore `text`), so one
 * payload serves both. Discord takes at most 2,000 characters.
 */
export function slackBody(b: AlertBatch): string {
  const text = [title(b), ...lines(b)].join('\n');
  const short = text.length > 1900 ? `${text.slice(0, 1890)}\n(cut)` : text;
  return JSON.stringify({ text: short, content: short });
}

export function mailOf(b: AlertBatch, from: string, to: string): Mail {
  return { from, to, subject: title(b), text: `${lines(b).join('\n')}\n\n-- berthd on ${b.host}\n` };
}
