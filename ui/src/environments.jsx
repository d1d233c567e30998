// The app's environments (previews with their branch, hosts and expiry), and removing a preview. Removing an
// environment that is not a preview (its data cannot be redeployed) stays with the CLI: berth env rm --force.
import { useState } from 'preact/hooks';
import { api, enc } from './api.js';
import { when } from './hooks.js';
import { Confirm } from './message.jsx';
import { may } from './roles.js';
import { Table } from './table.jsx';

export function Environments({ app, role, environments, onChange }) {
  const [asking, setAsking] = useState(null);
  const [status, setStatus] = useState(null);
  const member = may(role, 'member');
  const remove = async (env) => {
    setAsking(null);
    setStatus(`removing ${env}…`);
    try {
      await api('DELETE', `/v1/apps/${enc(app)}/environments/${enc(env)}`);
      setStatus(`${env} removed`);
    } catch (err) {
      setStatus(`removing ${env}: ${err.message}`);
    }
    onChange();
  };
  const actions = (e) => (
    <>
      {member && e.preview && asking !== e.name && (
        <button type="button" data-action="remove-env" data-env={e.name} onClick={() => setAsking(e.name)}>
          Remove {e.name}
        </button>
      )}
      {asking === e.name && (
        <Confirm
          action="confirm-remove"
          label={`Remove ${e.name} and its data`}
          onConfirm={() => remove(e.name)}
          onCancel={() => setAsking(null)}
        />
      )}
    </>
  );
  return (
    <div class="view" id="environments">
      {status && (
        <p class="note" id="env-status" aria-live="polite">
          {status}
        </p>
      )}
      <Table
        id="env-list"
        columns={[
          { title: 'environment', cell: (e) => `${e.name}${e.preview ? ' (preview)' : ''}` },
          { title: 'branch', cell: (e) => e.branch ?? '' },
          { title: 'hosts', cell: (e) => e.hosts.join(' ') },
          { title: 'release', cell: (e) => e.release ?? '' },
          { title: 'healthy', cell: (e) => `${e.instances.healthy}/${e.instances.total}` },
          { title: 'expires', cell: (e) => (e.expiresAt ? when(e.expiresAt) : e.preview ? 'never' : '') },
          { title: '', hidden: 'actions', cell: actions },
        ]}
        rows={environments}
        rowKey={(e) => e.name}
        rowAttrs={(e) => ({ 'data-env': e.name })}
      />
    </div>
  );
}
