import type { AlertTarget } from '../config/host-alerts.js';
import { BerthError, describe } from '../core/errors.js';
import { postJson } from '../system/post-json.js';
import { mailOf, slackBody, webhookBody, type AlertBatch } from './messages.js';
import { sendMail } from './smtp-client.js';

/** A target as it may be shown: its origin or mail server, never its path or user info (a Slack URL is a secret). */
export function targetName(t: AlertTarget): string {
  if (t.kind === 'email') return `email to ${t.to} via ${new URL(t.smtp).host}`;
  return `${t.kind} ${new URL(t.url).origin}`;
}

/** Sends one batch to every target at once; resolves with what failed, in words (never throws). */
export async function deliver(
  targets: readonly AlertTarget[],
  batch: AlertBatch,
  allow: readonly string[],
): Promise<string[]> {
  const failures = await Promise.all(
    targets.map(async (t) => {
      try {
        if (t.kind === 'email') {
          await sendMail(t.smtp, mailOf(batch, t.from, t.to), allow);
          return undefined;
        }
        const body = t.kind === 'slack' ? slackBody(batch) : webhookBody(batch);
        const status = await postJson(t.url, body, allow, 'alert');
        if (status >= 300) throw new Error(`answered ${status}`);
        return undefined;
      } catch (err) {
        const hint = err instanceof BerthError && err.hint ? `; ${err.hint}` : '';
        return `alert to ${targetName(t)} failed: ${describe(err)}${hint}`;
      }
    }),
  );
  return failures.filter((f): f is string => f !== undefined);
}
