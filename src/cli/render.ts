import { formatDuration } from '../config/duration.js';
import { formatSize } from '../config/size.js';
import type { InstanceStatus, ProxyStatus } from '../core/results.js';

/** A plain text table: header row, then rows, columns padded to their widest cell. */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] as number)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** A time to the second in UTC (2026-12-01T19:35:04Z); "-" for none. */
export const timestamp = (t: number | null): string =>
  t === null ? '-' : new Date(t).toISOString().replace(/\.\d+Z$/, 'Z');

export function describeExit(s: InstanceStatus): string {
  const e = s.lastExit;
  if (!e) return '';
  if (e.oom) return `oom (memory limit ${formatSize(e.oom.limitBytes)})`;
  if (e.note && e.code === null && e.signal === null) return e.note;
  return e.signal ? `killed by ${e.signal}` : e.code === null ? 'exit status unknown' : `exit ${e.code}`;
}

/** `berth ps`: one row per instance (a Swarm task: its node, the address the edge uses), then the last log lines of every instance that is down. */
export function renderPs(rows: readonly InstanceStatus[]): string {
  if (rows.length === 0) return 'no apps yet: run `berth up <dir>` to start one';
  const images = rows.some((s) => s.image !== undefined);
  const nodes = rows.some((s) => s.swarm !== undefined);
  const body = rows.map((s) => [
    s.app,
    s.env,
    rows.some((o) => o.service === s.service && o.app === s.app && o.instance !== s.instance)
      ? `${s.service}[${s.instance}]`
      : s.service,
    ...(images ? [s.image?.replace(/@sha256:([0-9a-f]{12})[0-9a-f]+$/, '@sha256:$1') ?? '-'] : []),
    ...(nodes ? [s.swarm?.node ?? '-'] : []),
    s.current ? String(s.release) : `${s.release} (old)`,
    s.swarm && s.swarm.health !== 'none' && s.swarm.health !== '-' ? `${s.state} (${s.swarm.health})` : s.state,
    s.pid === null ? '-' : String(s.pid),
    s.swarm?.address ?? (s.port === null ? '-' : String(s.port)),
    s.uptimeMs === null ? '-' : formatDuration(s.uptimeMs),
    String(s.restarts),
    s.swarm ? (s.swarm.error ?? '') : s.state === 'healthy' ? '' : describeExit(s),
  ]);
  const out = [
    table(
      [
        'APP',
        'ENV',
        'SERVICE',
        ...(images ? ['IMAGE'] : []),
        ...(nodes ? ['NODE'] : []),
        'RELEASE',
        'STATE',
        'PID',
        'PORT',
        'UPTIME',
        'RESTARTS',
        'LAST EXIT',
      ],
      body,
    ),
  ];
  for (const s of rows) {
    if (!s.lastLines) continue;
    out.push(
      '',
      `${s.app}/${s.service}[${s.instance}] is ${s.state} (${describeExit(s)}); last log lines:`,
      ...s.lastLines.map((l) => `  ${l}`),
    );
  }
  return out.join('\n');
}

/** `caddy proxy running, pid 41, ports: http 80, https 443, internal 20001 (builtin proxy, pid 42), 3 routes` */
export function proxyLine(s: ProxyStatus): string {
  const p = s.ports ?? (s.port !== undefined ? { http: s.port } : undefined);
  const ports = p
    ? [
        `http ${p.http}`,
        ...(p.https !== undefined ? [`https ${p.https}`] : []),
        ...(p.internal !== undefined
          ? [`internal ${p.internal}${s.internalPid !== undefined ? ` (builtin proxy, pid ${s.internalPid})` : ''}`]
          : []),
      ].join(', ')
    : '?';
  return `${s.kind} proxy running, pid ${s.pid ?? '?'}, ports: ${ports}, ${s.routes ?? '?'} routes`;
}
