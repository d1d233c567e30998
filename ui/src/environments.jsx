// The app's environments (previews with their branch, hosts and expiry), and removing a preview. Removing an
// environment that is not a preview (its data cannot be redeployed) stays with the CLI: berth env rm --force.
import { useState } from 'preact/hooks';
import { api, enc } from './api.js';
import { when } from './hooks.js';
import { Confirm } from './message.jsx';
import { may } from './roles.js';

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
  return (
    <div class="view" id="environments">
      {status && (
        <p class="note" id="env-status" aria-live="polite">
          {status}
        </p>
      )}
      <div class="scroll">
        <table id="env-list">
          <thead>
            <tr>
              <th>environment</th>
              <th>branch</th>
              <th>hosts</th>
              <th>release</th>
              <th>healthy</th>
              <th>expires</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            {environments.map((e) => (
              <tr key={e.name} data-env={e.name}>
                <td>
                  {e.name}
                  {e.preview && ' (preview)'}
                </td>
                <td>{e.branch ?? ''}</td>
                <td>{e.hosts.join(' ')}</td>
                <td>{e.release ?? ''}</td>
                <td>
                  {e.instances.healthy}/{e.instances.total}
                </td>
                <td>{e.expiresAt ? when(e.expiresAt) : e.preview ? 'never' : ''}</td>
                <td>
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
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
