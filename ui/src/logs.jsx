// A service's log, followed live (GET /v1/apps/:app/logs?follow=true, the last 200 lines first), and a search
// that shows only the lines containing it.
import { useEffect, useState } from 'preact/hooks';
import { api, enc, lines } from './api.js';
import { useLoad } from './hooks.js';

const KEEP = 2000;

export function Logs({ app, env }) {
  const instances = useLoad(() => api('GET', `/v1/apps/${enc(app)}/instances?env=${enc(env)}`), [app, env]);
  const services = [...new Set((instances.data ?? []).filter((i) => i.current).map((i) => i.service))];
  const [chosen, setChosen] = useState(null);
  const service = chosen ?? services[0];
  const [search, setSearch] = useState('');
  const [log, setLog] = useState({ lines: [], state: 'idle', error: null });

  useEffect(() => {
    if (!service) return undefined;
    const abort = new AbortController();
    setLog({ lines: [], state: 'following', error: null });
    const q = `service=${enc(service)}&env=${enc(env)}&follow=true&lines=200`;
    lines(
      'GET',
      `/v1/apps/${enc(app)}/logs?${q}`,
      undefined,
      (line) => {
        setLog((l) => ({ ...l, lines: [...l.lines, line].slice(-KEEP) }));
      },
      abort.signal,
    )
      .then(() => setLog((l) => ({ ...l, state: 'ended' })))
      .catch((err) => abort.signal.aborted || setLog((l) => ({ ...l, state: 'ended', error: err.message })));
    return () => abort.abort();
  }, [app, env, service]);

  const needle = search.toLowerCase();
  const shown = needle ? log.lines.filter((l) => l.toLowerCase().includes(needle)) : log.lines;
  return (
    <div class="view" id="logs">
      <div class="bar">
        <label>
          Service{' '}
          <select id="log-service" value={service ?? ''} onChange={(e) => setChosen(e.target.value)}>
            {services.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Search <input id="log-search" type="search" value={search} onInput={(e) => setSearch(e.target.value)} />
        </label>
        <span class="note" id="log-state">
          {log.state === 'following' ? 'following live' : log.state}
          {needle && `, ${shown.length} of ${log.lines.length} lines`}
        </span>
      </div>
      {!service && instances.data && <p class="note">No instances in {env}.</p>}
      {log.error && <p class="error">{log.error}</p>}
      <pre id="log-lines" tabIndex={0} aria-label={`log of ${service ?? 'no service'}`}>
        {shown.join('\n')}
      </pre>
    </div>
  );
}
