import { LATENCY_BUCKETS } from '../proxy/builtin/route-stats.js';
import { DEPLOY_BUCKETS, type MetricsSnapshot } from './collector.js';

type Labels = Record<string, string | number>;

/** A label value in the text format: backslash, double quote and line feed escaped. */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** A sample value: integers as they are, others as JS prints them (Go's ParseFloat reads both). */
function num(n: number): string {
  return Number.isFinite(n) ? String(n) : n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN';
}

/** Writes families in the Prometheus text exposition format (version 0.0.4): HELP, TYPE, then samples. */
class Families {
  readonly #out: string[] = [];

  family(name: string, type: 'gauge' | 'counter' | 'histogram', help: string): this {
    this.#out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    return this;
  }

  sample(name: string, labels: Labels, value: number): this {
    const l = Object.entries(labels)
      .map(([k, v]) => `${k}="${escapeLabel(String(v))}"`)
      .join(',');
    this.#out.push(`${name}${l ? `{${l}}` : ''} ${num(value)}`);
    return this;
  }

  /** A histogram's series from per-bucket counts (`cumulative`: already summed up to each bound). */
  histogram(
    name: string,
    labels: Labels,
    bounds: readonly number[],
    counts: readonly number[],
    sum: number,
    cumulative: boolean,
  ) {
    let total = 0;
    bounds.forEach((b, i) => {
      total = cumulative ? counts[i]! : total + counts[i]!;
      this.sample(`${name}_bucket`, { ...labels, le: b }, total);
    });
    const count = cumulative ? counts[bounds.length]! : total + counts[bounds.length]!;
    this.sample(`${name}_bucket`, { ...labels, le: '+Inf' }, count);
    this.sample(`${name}_sum`, labels, sum);
    this.sample(`${name}_count`, labels, count);
  }

  text(): string {
    return this.#out.join('\n') + '\n';
  }
}

const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'none'] as const;

/** The snapshot as /metrics serves it. Labels carry names only (apps, environments, services, hosts, paths), never values. */
export function exposition(s: MetricsSnapshot): string {
  const f = new Families();
  const byState = new Map<string, { labels: Labels; n: number }>();
  for (const i of s.instances) {
    const key = JSON.stringify([i.app, i.env, i.service, i.state]);
    const entry = byState.get(key) ?? { labels: { app: i.app, env: i.env, service: i.service, state: i.state }, n: 0 };
    entry.n++;
    byState.set(key, entry);
  }
  f.family('berth_instances', 'gauge', 'Instances by app, environment, service and state.');
  for (const { labels, n } of byState.values()) f.sample('berth_instances', labels, n);
  const who = (i: MetricsSnapshot['instances'][number]) => ({
    app: i.app,
    env: i.env,
    service: i.service,
    index: i.idx,
    release: i.release,
  });
  f.family('berth_instance_restarts_total', 'counter', 'Restarts of each instance since it was made.');
  for (const i of s.instances) f.sample('berth_instance_restarts_total', who(i), i.restarts);
  f.family('berth_instance_cpu_seconds_total', 'counter', "CPU seconds of each running instance's process.");
  for (const i of s.instances)
    if (i.cpuSeconds !== undefined) f.sample('berth_instance_cpu_seconds_total', who(i), i.cpuSeconds);
  f.family('berth_instance_resident_memory_bytes', 'gauge', "Resident memory of each running instance's process.");
  for (const i of s.instances)
    if (i.rssBytes !== undefined) f.sample('berth_instance_resident_memory_bytes', who(i), i.rssBytes);
  f.family('berth_oom_kills_total', 'counter', 'Instance processes killed for memory over their limit.');
  for (const o of s.oomKills)
    f.sample('berth_oom_kills_total', { app: o.app, env: o.env, service: o.service }, o.count);
  f.family('berth_http_requests_total', 'counter', 'Requests the builtin proxy answered, by route and status class.');
  for (const r of s.routes) {
    const labels = { app: r.app, env: r.env, service: r.service, host: r.host, path: r.path };
    r.classes.forEach((n, c) => n > 0 && f.sample('berth_http_requests_total', { ...labels, code: CLASSES[c]! }, n));
  }
  f.family(
    'berth_http_request_duration_seconds',
    'histogram',
    'Time from request to response end at the builtin proxy.',
  );
  for (const r of s.routes)
    f.histogram(
      'berth_http_request_duration_seconds',
      { app: r.app, env: r.env, service: r.service, host: r.host, path: r.path },
      LATENCY_BUCKETS,
      r.buckets,
      r.sum,
      false,
    );
  if (s.host) hostFamilies(f, s.host, s.at);
  return f.text();
}

function hostFamilies(f: Families, h: NonNullable<MetricsSnapshot['host']>, now: number): void {
  f.family('berth_deploys_total', 'counter', 'Deployments (deploys and rollbacks) by app, environment and status.');
  for (const d of h.deploys) f.sample('berth_deploys_total', { app: d.app, env: d.env, status: d.status }, d.count);
  f.family('berth_deploy_duration_seconds', 'histogram', 'How long finished deployments took.');
  for (const d of h.deploys)
    if (d.finished > 0)
      f.histogram(
        'berth_deploy_duration_seconds',
        { app: d.app, env: d.env, status: d.status },
        DEPLOY_BUCKETS,
        [...d.le, d.finished],
        d.sum,
        true,
      );
  f.family(
    'berth_tls_certificate_expiry_timestamp_seconds',
    'gauge',
    'When the certificate the edge serves for a host expires.',
  );
  for (const c of h.certificates)
    f.sample('berth_tls_certificate_expiry_timestamp_seconds', { host: c.host }, c.validTo / 1000);
  f.family('berth_backup_last_success_age_seconds', 'gauge', "Seconds since each environment's last verified backup.");
  for (const b of h.backups)
    f.sample('berth_backup_last_success_age_seconds', { app: b.app, env: b.env }, (now - b.at) / 1000);
  f.family('berth_doctor_findings', 'gauge', 'Findings of the last host-wide doctor run (berth doctor), by severity.');
  for (const [severity, n] of Object.entries(h.doctor?.counts ?? {}))
    f.sample('berth_doctor_findings', { severity }, n);
  f.family('berth_doctor_last_run_timestamp_seconds', 'gauge', 'When the last host-wide doctor run finished.');
  if (h.doctor) f.sample('berth_doctor_last_run_timestamp_seconds', {}, h.doctor.at / 1000);
}
