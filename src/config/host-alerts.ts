import { z } from 'zod';
import { DURATION_PATTERN, parseDuration } from './duration.js';

/** Where alerts go: a generic JSON webhook, a Slack (or Discord) incoming webhook, or e-mail over SMTP. */
export type AlertTarget =
  | { readonly kind: 'webhook'; readonly url: string }
  | { readonly kind: 'slack'; readonly url: string }
  | { readonly kind: 'email'; readonly to: string; readonly smtp: string; readonly from: string };

/** The rules berthd watches; a rule set to `false` in config.yaml is absent. */
export interface AlertRules {
  /** An instance of a current release is in crashloop. Default on. */
  readonly crashloop: boolean;
  /** An instance stayed unhealthy this long (ms). Default 5 minutes. */
  readonly unhealthyAfterMs?: number | undefined;
  /** The last deploy attempt of an environment failed. Default on. */
  readonly deployFailed: boolean;
  /** `berth doctor` reports an error (one the other rules do not cover). Default on. */
  readonly doctorError: boolean;
  /** A certificate the edge serves expires within this many days. Default 14. */
  readonly certificateDays?: number | undefined;
  /** The last backup failed, or the last good one is older than its schedule allows. Default on. */
  readonly backup: boolean;
  /** The disk of BERTH_HOME is fuller than this percentage. Default 90. */
  readonly diskPercent?: number | undefined;
}

/** `alerts:` of config.yaml, parsed. */
export interface AlertSettings {
  readonly targets: readonly AlertTarget[];
  readonly rules: AlertRules;
  /** An incident is resolved once its condition has been absent this long (ms). Default 5 minutes. */
  readonly resolveAfterMs: number;
  /** How often the store and the disk are looked at (ms); crashloops and deploys are seen at once. Default 30 s. */
  readonly intervalMs: number;
  /** How often the doctor runs for the doctor, certificate and backup rules (ms). Default 5 minutes. */
  readonly doctorIntervalMs: number;
}

const duration = (what: string) =>
  z
    .union([z.number().min(0), z.string().regex(DURATION_PATTERN, 'expected a duration like "30s", "5m" or "1h"')])
    .optional()
    .describe(what);

const url = (what: string) =>
  z
    .string()
    .regex(/^https?:\/\/[^\s/]+(\/\S*)?$/, 'expected an http:// or https:// URL')
    .optional()
    .describe(what);

const target = z
  .strictObject({
    webhook: url('POST a JSON document ({"source":"berth","host","alerts":[...]}) to this URL.'),
    slack: url('POST a Slack incoming-webhook payload ({"text"}, with "content" for Discord) to this URL.'),
    email: z
      .string()
      .regex(/^[^\s@<>]+@[^\s@<>]+$/, 'expected an e-mail address like ops@example.com')
      .optional(),
    smtp: z
      .string()
      .regex(/^smtps?:\/\/([^\s@/]+@)?[^\s@/:]+(:\d{1,5})?\/?$/, 'expected "smtp://[user:password@]host[:port]"')
      .optional()
      .describe('With email: the SMTP server, smtp:// (STARTTLS when offered) or smtps:// (TLS), port 25/465.'),
    from: z
      .string()
      .regex(/^[^\s@<>]+@[^\s@<>]+$/, 'expected an e-mail address')
      .optional(),
  })
  .superRefine((t, ctx) => {
    const kinds = [t.webhook, t.slack, t.email].filter((x) => x !== undefined).length;
    if (kinds !== 1)
      ctx.addIssue({
        code: 'custom',
        message:
          'give exactly one of webhook, slack or email, e.g. { webhook: "https://ops.example.com/berth" } or { email: ops@example.com, smtp: "smtp://127.0.0.1:25" }',
      });
    else if (t.email !== undefined && t.smtp === undefined)
      ctx.addIssue({ code: 'custom', path: ['smtp'], message: 'an email target needs smtp: "smtp://host:port"' });
    else if (t.email === undefined && (t.smtp !== undefined || t.from !== undefined))
      ctx.addIssue({ code: 'custom', path: ['smtp'], message: 'smtp and from belong to an email target only' });
  });

const toggle = <T extends z.ZodType>(inner: T) => z.union([z.literal(false), z.literal(true), inner]).optional();

export const alertsSchema = z
  .strictObject({
    targets: z.array(target).min(1, 'list at least one target, e.g. - { webhook: "https://..." }'),
    rules: z
      .strictObject({
        crashloop: z.boolean().optional().describe('An instance keeps crashing. Default true.'),
        unhealthy: toggle(z.strictObject({ after: duration('Default "5m".') })).describe(
          'An instance unhealthy longer than `after`. Default { after: 5m }; false turns it off.',
        ),
        deploy_failed: z.boolean().optional().describe("An environment's last deploy failed. Default true."),
        doctor_error: z.boolean().optional().describe('berth doctor reports an error. Default true.'),
        certificate: toggle(z.strictObject({ days: z.number().int().min(1).max(365).optional() })).describe(
          'A certificate expires within `days`. Default { days: 14 }.',
        ),
        backup: z.boolean().optional().describe('A backup failed, or none is as recent as its schedule. Default true.'),
        disk: toggle(z.strictObject({ percent: z.number().min(1).max(100).optional() })).describe(
          'The disk of BERTH_HOME is fuller than `percent`. Default { percent: 90 }.',
        ),
      })
      .optional(),
    resolve_after: duration('An incident is resolved once absent this long. Default "5m".'),
    interval: duration('How often the store and disk are looked at. Default "30s".'),
    doctor_interval: duration('How often the doctor runs for alerts. Default "5m".'),
  })
  .optional()
  .describe(
    'Tell someone when something breaks: one message per incident and one when it is resolved. Private targets need outbound_allow.',
  );

function enabled<T>(value: boolean | T | undefined, pick: (v: T) => number | undefined, fallback: number) {
  if (value === false) return undefined;
  return value === true || value === undefined ? fallback : (pick(value) ?? fallback);
}

/** The parsed form; undefined when config.yaml has no `alerts:`. */
export function parseAlerts(raw: z.infer<typeof alertsSchema>, hostname: string): AlertSettings | undefined {
  if (!raw) return undefined;
  const r = raw.rules ?? {};
  const ms = (v: number | string | undefined, d: number) => (v === undefined ? d : (parseDuration(v) ?? d));
  return {
    targets: raw.targets.map((t): AlertTarget => {
      if (t.webhook) return { kind: 'webhook', url: t.webhook };
      if (t.slack) return { kind: 'slack', url: t.slack };
      return { kind: 'email', to: t.email as string, smtp: t.smtp as string, from: t.from ?? `berth@${hostname}` };
    }),
    rules: {
      crashloop: r.crashloop ?? true,
      unhealthyAfterMs: enabled(r.unhealthy, (v) => (v.after === undefined ? undefined : ms(v.after, 0)), 300_000),
      deployFailed: r.deploy_failed ?? true,
      doctorError: r.doctor_error ?? true,
      certificateDays: enabled(r.certificate, (v) => v.days, 14),
      backup: r.backup ?? true,
      diskPercent: enabled(r.disk, (v) => v.percent, 90),
    },
    resolveAfterMs: ms(raw.resolve_after, 300_000),
    intervalMs: Math.max(100, ms(raw.interval, 30_000)),
    doctorIntervalMs: Math.max(1000, ms(raw.doctor_interval, 300_000)),
  };
}
