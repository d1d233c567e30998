// Every app of the user's organisations: its instances per environment, its routes, a restart per environment,
// and the recent events. Each app's name leads to its own page (app-view.jsx).
import { api, enc } from './api.js';
import { clock, useLoad } from './hooks.js';
import { say } from './message.jsx';
import { may, roleIn } from './roles.js';

const REFRESH_MS = 2000;

async function loadBoard() {
  const [list, instances, routes, events] = await Promise.all([
    api('GET', '/v1/apps'),
    api('GET', '/v1/instances'),
    api('GET', '/v1/routes'),
    api('GET', '/v1/events?limit=20'),
  ]);
  return { list, instances, routes, events };
}

export function Overview({ me }) {
  const board = useLoad(
    async () => {
      try {
        const b = await loadBoard();
        say('', 'refresh');
        return b;
      } catch (err) {
        if (err.status !== 401) say(`cannot reach berthd: ${err.message}`, 'refresh');
        throw err;
      }
    },
    [],
    REFRESH_MS,
  );
  const b = board.data;
  if (!b) return <p class="note">Loading…</p>;
  const restart = async (app, env) => {
    say('');
    try {
      await api('POST', `/v1/apps/${enc(app)}/restart`, { env });
    } catch (err) {
      say(`restart ${app} (${env}): ${err.message}`);
    }
    board.reload();
  };
  return (
    <section id="board">
      {b.list.apps.length === 0 && <p class="note">No apps yet. Deploy one: berth deploy &lt;dir&gt;</p>}
      {b.list.apps.map((app) => (
        <AppCard
          key={app}
          app={app}
          mayControl={may(roleIn(me, b.list.orgs?.[app]), 'member')}
          instances={b.instances.filter((i) => i.app === app && i.current)}
          routes={b.routes.filter((r) => r.app === app)}
          onRestart={restart}
        />
      ))}
      <h2>Recent events</h2>
      <div class="scroll">
        <table id="events">
          <thead>
            <tr>
              <th>time</th>
              <th>app</th>
              <th>env</th>
              <th>service</th>
              <th>event</th>
            </tr>
          </thead>
          <tbody>
            {[...b.events].reverse().map((e, n) => (
              <tr key={n}>
                <td>{clock(e.at)}</td>
                <td>{e.app}</td>
                <td>{e.environment ?? ''}</td>
                <td>{e.service ?? ''}</td>
                <td>{e.message ?? e.kind}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function AppCard({ app, mayControl, instances, routes, onRestart }) {
  const envs = [...new Set(instances.map((i) => i.env))];
  return (
    <section class="app" data-app={app}>
      <h2>
        <a href={`#/app/${enc(app)}`}>{app}</a>
      </h2>
      <div class="scroll">
        <table class="instances">
          <thead>
            <tr>
              {['env', 'service', 'instance', 'release', 'state', 'port', 'restarts', ''].map((h) => (
                <th key={h}>{h}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {instances.length === 0 && (
              <tr>
                <td colSpan={8}>no instances</td>
              </tr>
            )}
            {envs.flatMap((env) =>
              instances
                .filter((i) => i.env === env)
                .map((i, n) => (
                  <tr key={`${env}-${i.service}-${i.instance}`}>
                    <td>{i.env}</td>
                    <td>{i.service}</td>
                    <td>{i.instance}</td>
                    <td>{i.release}</td>
                    <td class={`state state-${i.state}`}>{i.state}</td>
                    <td>{i.port ?? ''}</td>
                    <td>{i.restarts}</td>
                    <td>
                      {/* One restart per environment, on its first line; the member role is needed. */}
                      {n === 0 && mayControl && (
                        <button type="button" data-action="restart" data-env={env} onClick={() => onRestart(app, env)}>
                          Restart {env}
                        </button>
                      )}
                    </td>
                  </tr>
                )),
            )}
          </tbody>
        </table>
      </div>
      {routes.length > 0 && (
        <div class="scroll">
          <table class="routes">
            <thead>
              <tr>
                <th>route</th>
                <th>env</th>
                <th>service</th>
                <th>healthy</th>
              </tr>
            </thead>
            <tbody>
              {routes.map((r) => (
                <tr key={`${r.host}${r.path}${r.env}`}>
                  <td>{`${r.host}${r.path}`}</td>
                  <td>{r.env}</td>
                  <td>{r.service}</td>
                  <td class={`healthy-${r.healthy ? 'yes' : 'no'}`}>{r.healthy ? 'yes' : 'no'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
