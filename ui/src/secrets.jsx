// Secrets by name: members see the names, admins set and unset them. A value goes in and never comes back out:
// the API has no way to read one, and the form forgets it once sent.
import { useState } from 'preact/hooks';
import { api, enc } from './api.js';
import { useLoad, when } from './hooks.js';
import { may } from './roles.js';
import { Table } from './table.jsx';

export function Secrets({ app, env, role }) {
  const member = may(role, 'member');
  const admin = may(role, 'admin');
  const list = useLoad(() => (member ? api('GET', `/v1/apps/${enc(app)}/secrets`) : []), [app, member]);
  const [status, setStatus] = useState(null);
  if (!member) return <p class="note">Secret names are shown to members of the app's organisation.</p>;

  const set = async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const name = String(form.get('name')).trim();
    const scope = String(form.get('scope'));
    try {
      await api('PUT', `/v1/apps/${enc(app)}/secrets/${enc(name)}`, {
        value: String(form.get('value')),
        ...(scope === 'env' ? { env } : {}),
      });
      event.target.reset();
      setStatus(`${name} set`);
    } catch (err) {
      setStatus(`setting ${name}: ${err.message}`);
    }
    list.reload();
  };
  const unset = async (s) => {
    try {
      await api('DELETE', `/v1/apps/${enc(app)}/secrets/${enc(s.name)}${s.env ? `?env=${enc(s.env)}` : ''}`);
      setStatus(`${s.name} unset`);
    } catch (err) {
      setStatus(`unsetting ${s.name}: ${err.message}`);
    }
    list.reload();
  };
  return (
    <div class="view" id="secrets">
      {status && (
        <p class="note" id="secret-status" aria-live="polite">
          {status}
        </p>
      )}
      {list.error && <p class="error">{list.error.message}</p>}
      <Table
        id="secret-list"
        columns={[
          { title: 'name', cell: (s) => s.name },
          { title: 'environment', cell: (s) => s.env ?? 'all' },
          { title: 'changed', cell: (s) => when(s.updatedAt) },
          {
            title: '',
            hidden: 'actions',
            cell: (s) =>
              admin && (
                <button type="button" data-action="unset-secret" data-secret={s.name} onClick={() => unset(s)}>
                  Unset {s.name}
                </button>
              ),
          },
        ]}
        rows={list.data ?? []}
        rowKey={(s) => `${s.name}/${s.env}`}
        rowAttrs={(s) => ({ 'data-secret': s.name })}
      />
      {admin && (
        <form id="secret-form" class="inline" onSubmit={set}>
          <label>
            Name <input name="name" required maxlength="128" pattern="[A-Za-z_][A-Za-z0-9_]*" autocomplete="off" />
          </label>
          <label>
            Value <input name="value" type="password" required maxlength="65536" autocomplete="new-password" />
          </label>
          <label>
            For{' '}
            <select name="scope">
              <option value="all">all environments</option>
              <option value="env">{env} only</option>
            </select>
          </label>
          <button type="submit" data-action="set-secret">
            Set secret
          </button>
        </form>
      )}
    </div>
  );
}
