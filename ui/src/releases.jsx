// Deploy (the app's registered source, or a branch) and roll back, the steps streaming in as they change;
// the environment's releases, its deployments with their steps, and the attempts that made no release.
import { useState } from 'preact/hooks';
import { api, enc, streamDeploy } from './api.js';
import { useLoad, when } from './hooks.js';
import { may } from './roles.js';
import { Steps } from './steps.jsx';
import { Table } from './table.jsx';

export function Releases({ app, env, role, environments, onChange }) {
  const data = useLoad(() => api('GET', `/v1/apps/${enc(app)}/releases?env=${enc(env)}`), [app, env]);
  const [live, setLive] = useState(null);
  const member = may(role, 'member');
  const here = environments.find((e) => e.name === env);

  const run = async (what, path, body) => {
    setLive({ what, steps: [], result: null, error: null });
    try {
      const result = await streamDeploy(path, body, (steps) => setLive((l) => ({ ...l, steps })));
      setLive((l) => ({ ...l, steps: result?.steps ?? l.steps, result }));
    } catch (err) {
      setLive((l) => ({ ...l, error: err.message }));
    }
    data.reload();
    onChange();
  };
  // An environment that runs a branch is deployed as that branch; otherwise by its name.
  const deployHere = () =>
    run(`deploy ${env}`, '/v1/deployments', here?.branch ? { app, branch: here.branch } : { app, env });
  const deployBranch = (event) => {
    event.preventDefault();
    const branch = String(new FormData(event.target).get('branch')).trim();
    if (branch) void run(`deploy branch ${branch}`, '/v1/deployments', { app, branch });
  };
  const rollback = (release) =>
    run(`rollback to release ${release}`, `/v1/apps/${enc(app)}/rollback`, { env, release });

  const d = data.data;
  return (
    <div class="view" id="releases">
      {member && (
        <div class="actions">
          <button
            type="button"
            data-action="deploy"
            onClick={deployHere}
            disabled={live && !live.result && !live.error}
          >
            Deploy {env}
          </button>
          <form class="inline" onSubmit={deployBranch}>
            <label>
              Branch <input name="branch" maxlength="200" placeholder="feature/x" />
            </label>
            <button type="submit" data-action="deploy-branch">
              Deploy branch
            </button>
          </form>
        </div>
      )}
      {live && (
        <section id="deploy-live" aria-live="polite" class="panel">
          <h2>{live.what}</h2>
          <Steps steps={live.steps} />
          {live.result && (
            <p id="deploy-result" class={`status-${live.result.status}`}>
              {live.result.status}
              {live.result.release != null && ` (release ${live.result.release}, ${live.result.env})`}
              {live.result.error && `: ${live.result.error}`}
            </p>
          )}
          {live.error && <p class="error">{live.error}</p>}
        </section>
      )}
      {data.error && <p class="error">{data.error.message}</p>}
      {d && (
        <>
          <h2>Releases</h2>
          <Table
            id="release-list"
            columns={[
              { title: 'release', cell: (r) => `${r.number}${r.current ? ' (current)' : ''}` },
              { title: 'made', cell: (r) => when(r.createdAt) },
              { title: 'source', cell: (r) => describeSource(r.source) },
              {
                title: '',
                hidden: 'actions',
                cell: (r) =>
                  member &&
                  !r.current && (
                    <button
                      type="button"
                      data-action="rollback"
                      data-release={r.number}
                      onClick={() => rollback(r.number)}
                    >
                      Roll back to {r.number}
                    </button>
                  ),
              },
            ]}
            rows={[...d.releases].reverse()}
            rowKey={(r) => r.number}
            rowAttrs={(r) => ({ 'data-release': r.number, class: r.current ? 'current' : '' })}
          />
          {d.attempts.length > 0 && (
            <>
              <h2>Failed attempts</h2>
              <ul id="attempts">
                {d.attempts.map((a) => (
                  <li key={a.number}>
                    attempt {a.number} {a.status} {when(a.startedAt)}: {a.error}
                  </li>
                ))}
              </ul>
            </>
          )}
          <h2>Deployments</h2>
          <ul id="deployments" class="plain">
            {d.deployments.map((x) => (
              <li key={x.id}>
                <details>
                  <summary class={`status-${x.status}`}>
                    {x.kind} of release {x.release}: {x.status}, {when(x.startedAt)}
                  </summary>
                  {x.error && <p class="error">{x.error}</p>}
                  <Steps steps={x.steps} />
                </details>
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}

function describeSource(s) {
  if (!s) return '';
  return [s.branch && `branch ${s.branch}`, s.commit && String(s.commit).slice(0, 10), s.ref].filter(Boolean).join(' ');
}
