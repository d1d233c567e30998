// What `berth doctor <app>` finds, with the fix it suggests.
import { api, enc } from './api.js';
import { useLoad } from './hooks.js';

export function Doctor({ app }) {
  const r = useLoad(() => api('GET', `/v1/apps/${enc(app)}/doctor`), [app]);
  if (r.error) return <p class="error">{r.error.message}</p>;
  if (!r.data) return <p class="note">Checking…</p>;
  const findings = r.data.findings;
  return (
    <div class="view" id="doctor">
      {findings.length === 0 && <p class="note">No findings.</p>}
      <ul class="plain">
        {findings.map((f, n) => (
          <li key={n} class={`finding finding-${f.severity}`}>
            <strong>{f.severity}</strong> {f.env ? `${f.env} ` : ''}
            {f.service ? `${f.service}: ` : ''}
            {f.message}
            {f.fix && <div class="note">fix: {f.fix}</div>}
          </li>
        ))}
      </ul>
    </div>
  );
}
