// The environment's backups (verified restic snapshots), a backup now, and a restore of one (members, asked twice).
import { useState } from 'preact/hooks';
import { api, enc } from './api.js';
import { useLoad, when } from './hooks.js';
import { Confirm } from './message.jsx';
import { may } from './roles.js';

export function Backups({ app, env, role }) {
  const list = useLoad(() => api('GET', `/v1/apps/${enc(app)}/backups?env=${enc(env)}`), [app, env]);
  const [status, setStatus] = useState(null);
  const [asking, setAsking] = useState(null);
  const member = may(role, 'member');
  const act = async (what, path) => {
    setStatus(`${what}…`);
    try {
      const r = await api('POST', path, { env });
      setStatus(`${what}: ${r.status ?? 'done'}${r.error ? `: ${r.error}` : ''}`);
    } catch (err) {
      setStatus(`${what}: ${err.message}`);
    }
    list.reload();
  };
  return (
    <div class="view" id="backups">
      {member && (
        <button type="button" data-action="backup" onClick={() => act('backup', `/v1/apps/${enc(app)}/backups`)}>
          Back up {env} now
        </button>
      )}
      {status && (
        <p class="note" aria-live="polite">
          {status}
        </p>
      )}
      {list.error && <p class="error">{list.error.message}</p>}
      <div class="scroll">
        <table id="backup-list">
          <thead>
            <tr>
              <th>time</th>
              <th>snapshot</th>
              <th>status</th>
              <th>holds</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            {(list.data ?? []).map((b, n) => (
              <tr key={n}>
                <td>{when(b.time)}</td>
                <td>{b.snapshot ?? ''}</td>
                <td>
                  {b.status}
                  {b.error ? `: ${b.error}` : ''}
                </td>
                <td>{b.holds.join('; ')}</td>
                <td>
                  {member && b.verified && b.snapshot && asking !== b.snapshot && (
                    <button type="button" data-action="restore" onClick={() => setAsking(b.snapshot)}>
                      Restore {b.snapshot}
                    </button>
                  )}
                  {asking === b.snapshot && (
                    <Confirm
                      action="confirm-restore"
                      label={`Replace ${env}'s data with ${b.snapshot}`}
                      onConfirm={() => {
                        setAsking(null);
                        void act(`restore ${b.snapshot}`, `/v1/apps/${enc(app)}/backups/${b.snapshot}/restore`);
                      }}
                      onCancel={() => setAsking(null)}
                    />
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
