// The last hour of each service: requests/s, p95 latency, CPU and memory, as small SVG line charts (no chart
// library: a polyline each), from GET /v1/apps/:app/metrics. Each chart has its summary as its accessible name,
// and every point is in a table below the charts, for screen readers and for reading exact values.
import { api, enc } from './api.js';
import { clock, useLoad } from './hooks.js';
import { Table } from './table.jsx';

const W = 300;
const H = 80;
const mb = (bytes) => bytes / 1048576;
const CHARTS = [
  ['requests', 'Requests', (p) => p.reqPerSec, (v) => `${v.toFixed(v < 10 ? 2 : 0)} req/s`],
  ['latency', 'Latency (p95)', (p) => p.p95Ms, (v) => `${v.toFixed(v < 10 ? 1 : 0)} ms`],
  ['cpu', 'CPU', (p) => p.cpuPercent, (v) => `${v.toFixed(1)} %`],
  ['memory', 'Memory', (p) => mb(p.rssBytes), (v) => `${v.toFixed(1)} MB`],
];

function Chart({ service, kind, title, value, format, points, from, to }) {
  const known = points.filter((p) => value(p) !== null);
  const values = known.map(value);
  const max = Math.max(0, ...values);
  const top = max > 0 ? max * 1.1 : 1;
  const x = (at) => ((at - from) / Math.max(1, to - from)) * W;
  const y = (v) => H - (v / top) * H;
  const line = known.map((p) => `${x(p.at).toFixed(1)},${y(value(p)).toFixed(1)}`).join(' ');
  const latest = values.length > 0 ? format(values[values.length - 1]) : 'no data';
  const label = `${title} of ${service} over the last hour: latest ${latest}, peak ${values.length ? format(max) : 'no data'}`;
  return (
    <figure class="chart" data-chart={kind} data-peak={max}>
      <figcaption>
        {title} <span class="note">{latest}</span>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={label}>
        <line x1="0" y1={H} x2={W} y2={H} stroke="#c5ccd3" stroke-width="1" />
        {line && (
          <polyline points={line} fill="none" stroke="#1d4f91" stroke-width="2" vector-effect="non-scaling-stroke" />
        )}
      </svg>
    </figure>
  );
}

// The time axis spans what is held of the last hour (the whole hour once berthd has sampled that long), so that
// the first minutes of a service are a line and not a few pixels at the right edge.
function Service({ service, points, windowMs, now }) {
  const first = points[0];
  const from = first ? Math.max(now - windowMs, first.at - first.seconds * 1000) : now - windowMs;
  return (
    <section class="metrics" data-service={service}>
      <h2>{service}</h2>
      {points.length === 0 && <p class="note">No sample yet: the first comes one interval after the service starts.</p>}
      {first && (
        <p class="note span">
          {clock(from)} to {clock(now)}
        </p>
      )}
      <div class="charts">
        {CHARTS.map(([kind, title, value, format]) => (
          <Chart key={kind} {...{ service, kind, title, value, format, points, from, to: now }} />
        ))}
      </div>
      <details>
        <summary>Values of {service} as a table</summary>
        <Table
          class="metric-values"
          columns={[
            { title: 'Time', cell: (p) => clock(p.at) },
            ...CHARTS.map(([kind, title, value, format]) => ({
              title,
              cell: (p) => (value(p) === null ? '-' : format(value(p))),
              attrs: () => ({ 'data-kind': kind }),
            })),
          ]}
          rows={[...points].reverse()}
          rowKey={(p) => p.at}
          rowAttrs={(p) => ({ 'data-at': p.at, 'data-requests': Math.round(p.reqPerSec * p.seconds) })}
        />
      </details>
    </section>
  );
}

export function Metrics({ app, env }) {
  const r = useLoad(() => api('GET', `/v1/apps/${enc(app)}/metrics?env=${enc(env)}`), [app, env], 3000);
  if (r.error && !r.data) return <p class="error">{r.error.message}</p>;
  if (!r.data) return <p class="note">Loading…</p>;
  const { services, windowMs, intervalMs } = r.data;
  const now = Math.max(Date.now(), ...services.flatMap((s) => s.points.map((p) => p.at)));
  return (
    <div class="view" id="metrics">
      <p class="note">
        The last hour{intervalMs ? `, a point every ${intervalMs / 1000} s` : ''}; kept on disk by berthd, so it
        survives a restart of berthd.
      </p>
      {services.length === 0 && <p class="note">No service of this environment is sampled yet.</p>}
      {services.map((s) => (
        <Service key={s.service} service={s.service} points={s.points} windowMs={windowMs} now={now} />
      ))}
    </div>
  );
}
