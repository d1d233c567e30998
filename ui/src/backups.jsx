// The environment's backups (verified restic snapshots), a backup now, and a restore of one (members, asked twice).
// What an action answered stays in #backup-status (a live region) until the next one.
import { useState } from 'preact/hooks';
import { api, enc } from './api.js';
import { useLoad, when } from './hooks.js';
import { Confirm } from './message.jsx';
import { may } from './roles.js';
import { Table } from './table.jsx';

export function Backups({ app, env, role }) {
  const list = useLoad(() => api('GET', `/v1/apps/${enc(app)}/backups?env=${enc(env)}`), [app, env]);
  const [status, setStatus] = useState(null);
  const [asking, setAsking] = useState(null);
  const [busy, setBusy] = useState(false);
  const member = may(role, 'member');
  const act = async (what, path) => {
    setStatus(`${what}…`);
    setBusy(true);
    try {
      const r = await api('POST', path, { env });
      setStatus(`${what}: ${r.status ?? 'done'}${r.error ? `: ${r.error}` : ''}`);
    } catch (err) {
      setStatus(`${what}: ${err.message}`);
    }
    setBusy(false);
    list.reload();
  };
  const actions = (b) => (
    <>
      {member && b.verified && b.snapshot && asking !== b.snapshot && (
        <button
          type="button"
          data-action="restore"
          data-snapshot={b.snapshot}
          disabled={busy}
          onClick={() => setAsking(b.snapshot)}
        >
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
    </>
  );
  return (
    <div class="view" id="backups">
      {member && (
        <button
          type="button"
          data-action="backup"
          disabled={busy}
          onClick={() => act('backup', `/v1/apps/${enc(app)}/backups`)}
        >
          Back up {env} now
        </button>
      )}
      <p class="note" id="backup-status" aria-live="polite">
        {status ?? ''}
      </p>
      {list.error && <p class="error">{list.error.message}</p>}
      <Table
        id="backup-list"
        columns={[
          { title: 'time', cell: (b) => when(b.time) },
          { title: 'snapshot', cell: (b) => b.snapshot ?? '' },
          { title: 'status', cell: (b) => `${b.status}${b.error ? `: ${b.error}` : ''}` },
          { title: 'holds', cell: (b) => b.holds.join('; ') },
          { title: '', hidden: 'actions', cell: (b) => actions(b) },
        ]}
        rows={list.data ?? []}
        rowAttrs={(b) => ({ 'data-snapshot': b.snapshot ?? '', 'data-status': b.status })}
        empty={list.data ? 'no backup yet' : 'loading…'}
      />
    </div>
  );
}
