// One app's page, per environment: releases and deploys, logs, environments, secrets, doctor, backups, metrics.
// The views are links (#/app/APP/ENV/VIEW), so a viewer, who may change nothing, gets no buttons at all.
import { api, enc } from './api.js';
import { useLoad } from './hooks.js';
import { roleIn } from './roles.js';
import { Releases } from './releases.jsx';
import { Logs } from './logs.jsx';
import { Environments } from './environments.jsx';
import { Secrets } from './secrets.jsx';
import { Doctor } from './doctor.jsx';
import { Backups } from './backups.jsx';
import { Metrics } from './metrics.jsx';

const VIEWS = {
  releases: ['Deploys and releases', Releases],
  logs: ['Logs', Logs],
  environments: ['Environments', Environments],
  secrets: ['Secrets', Secrets],
  doctor: ['Doctor', Doctor],
  backups: ['Backups', Backups],
  metrics: ['Metrics', Metrics],
};

export function AppView({ me, path }) {
  const [, app, envParam, viewParam] = path;
  const envs = useLoad(() => api('GET', `/v1/apps/${enc(app)}/environments`), [app], 3000);
  const list = useLoad(() => api('GET', '/v1/apps'), []);
  const role = list.data ? roleIn(me, list.data.orgs?.[app]) : me.user ? 'viewer' : undefined;
  const names = (envs.data ?? []).map((e) => e.name);
  const env = envParam ?? (names.includes('production') ? 'production' : names[0]) ?? 'production';
  const view = VIEWS[viewParam] ? viewParam : 'releases';
  const href = (e, v) => `#/app/${enc(app)}/${enc(e)}/${v}`;
  const [, View] = VIEWS[view];
  return (
    <section id="app-view" data-app={app} data-env={env}>
      <h1>
        <a href="#/">Apps</a> / {app}
      </h1>
      {envs.error && <p class="error">{envs.error.message}</p>}
      <div class="bar">
        <label>
          Environment{' '}
          <select id="env" value={env} onChange={(e) => (location.hash = href(e.target.value, view))}>
            {(names.includes(env) ? names : [env, ...names]).map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
        <span class="note">your role: {role ?? 'root on the host'}</span>
      </div>
      <nav aria-label="Views of this app">
        {Object.entries(VIEWS).map(([key, [label]]) => (
          <a key={key} href={href(env, key)} aria-current={key === view ? 'page' : undefined} data-view={key}>
            {label}
          </a>
        ))}
      </nav>
      <View
        key={`${app}/${env}/${view}`}
        app={app}
        env={env}
        role={role}
        environments={envs.data ?? []}
        onChange={envs.reload}
      />
    </section>
  );
}
