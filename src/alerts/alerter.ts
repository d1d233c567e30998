import type { Logger } from 'pino';
import type { AlertSettings } from '../config/host-alerts.js';
import { describe } from '../core/errors.js';
import type { CertificateFact } from '../doctor/checks/tls.js';
import type { Finding } from '../doctor/finding.js';
import type { IncidentRow } from '../store/alerts-repo.js';
import type { Store } from '../store/store.js';
import { diskCondition, doctorConditions, storeConditions } from './conditions.js';
import { deliver } from './delivery.js';
import { reconcile, type Condition, type RuleName } from './incidents.js';

export interface AlerterDeps {
  readonly settings: AlertSettings;
  /** This host's name in messages. */
  readonly host: string;
  /** outbound_allow. */
  readonly allow: readonly string[];
  readonly store: Store;
  /** BERTH_HOME, whose disk the disk rule watches. */
  readonly home: string;
  readonly log: Logger;
  /** A doctor run over every app: its findings and the certificates it read. */
  readonly doctor: () => Promise<{ findings: readonly Finding[]; certificates: readonly CertificateFact[] }>;
  /** An app's own secrets out of a message about it. */
  readonly redact: (app: string, text: string) => string;
}

const FAST: readonly RuleName[] = ['crashloop', 'unhealthy', 'deploy_failed', 'disk'];
const SLOW: readonly RuleName[] = ['doctor_error', 'certificate', 'backup'];

/**
 * Watches the alert rules and tells the targets: one message per incident when it opens, one
 * when it is resolved (see incidents.ts), everything one look found in one message. The store's
 * rules and the disk are looked at every `interval` and when poked (an instance entered
 * crashloop, a deploy ended); the doctor's rules every `doctor_interval`. Incidents are in the
 * store, written before the message goes: a restarted berthd neither re-sends nor forgets one.
 */
export class Alerter {
  readonly #d: AlerterDeps;
  #queue: Promise<void> = Promise.resolve();
  #queued = false;
  #withDoctor = false;
  #fast: NodeJS.Timeout | undefined;
  #slow: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(deps: AlerterDeps) {
    this.#d = deps;
  }

  /** Starts looking: now, then by the intervals. The doctor's first run waits a minute at most (berthd's start). */
  start(): void {
    this.poke();
    const every = this.#d.settings.doctorIntervalMs;
    const slow = (ms: number) => {
      this.#slow = setTimeout(() => (this.poke(true), slow(every)), ms).unref();
    };
    slow(Math.min(60_000, every));
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#fast);
    clearTimeout(this.#slow);
  }

  /** Looks again soon (one look at a time; pokes while one runs make one more). */
  poke(doctor = false): void {
    this.#withDoctor ||= doctor;
    if (this.#queued || this.#stopped) return;
    this.#queued = true;
    this.#queue = this.#queue.then(async () => {
      this.#queued = false;
      const withDoctor = this.#withDoctor;
      this.#withDoctor = false;
      const next = await this.#look(withDoctor).catch((err: unknown) => {
        this.#d.log.warn({ err: describe(err) }, 'alert rules could not be looked at');
        return undefined;
      });
      const s = this.#d.settings;
      clearTimeout(this.#fast);
      const wait = Math.max(50, Math.min(s.intervalMs, (next ?? Infinity) - Date.now()));
      if (!this.#stopped) this.#fast = setTimeout(() => this.poke(), wait).unref();
    });
  }

  /** One look; returns when an incident is next due to be resolved. */
  async #look(withDoctor: boolean): Promise<number | undefined> {
    const { settings, store } = this.#d;
    const now = Date.now();
    const looked = new Set<RuleName>(FAST);
    const open = await store.alerts.open();
    const crashing = new Set(open.filter((i) => i.rule === 'crashloop').map((i) => i.subject));
    const conditions: Condition[] = [
      ...(await storeConditions(store.alerts, settings.rules, now, crashing)),
      ...diskCondition(this.#d.home, settings.rules.diskPercent),
    ];
    if (withDoctor) {
      const d = await this.#d.doctor();
      conditions.push(...doctorConditions(d.findings, d.certificates, settings.rules, now));
      SLOW.forEach((r) => looked.add(r));
    }
    const redacted = conditions.map((c) => (c.app ? { ...c, message: this.#d.redact(c.app, c.message) } : c));
    const r = reconcile(now, looked, redacted, open, settings.resolveAfterMs);
    if (r.opened.length || r.seen.length || r.resolved.length)
      await store.write(async (repos) => {
        for (const i of r.opened) await repos.alerts.insert(i);
        for (const i of r.seen) await repos.alerts.seen(i.rule, i.subject, i.lastSeen);
        for (const i of r.resolved) await repos.alerts.remove(i.rule, i.subject);
      });
    if (r.opened.length || r.resolved.length) await this.#tell(r.opened, r.resolved, now);
    return r.nextAt;
  }

  async #tell(firing: IncidentRow[], resolved: IncidentRow[], at: number): Promise<void> {
    const { log, store } = this.#d;
    const failures = await deliver(
      this.#d.settings.targets,
      { host: this.#d.host, at, firing, resolved },
      this.#d.allow,
    );
    for (const f of failures) log.warn(f);
    const apps = new Set([...firing, ...resolved].map((i) => i.app).filter((a): a is string => a !== null));
    const events = [
      ...firing.map((i) => ({ i, kind: 'alert.firing', text: `alert ${i.rule} ${i.subject}: ${i.message}` })),
      ...resolved.map((i) => ({ i, kind: 'alert.resolved', text: `resolved: ${i.rule} ${i.subject}` })),
      ...[...apps].flatMap((app) => failures.map((text) => ({ i: { app, env: null }, kind: 'alert.failed', text }))),
    ];
    for (const e of events)
      if (e.i.app !== null)
        await store.events
          .append({ at, app: e.i.app, environment: e.i.env, service: null, kind: e.kind, message: e.text })
          .catch(() => undefined);
  }
}
