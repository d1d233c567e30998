// Every app of the user's organisations: its instances per environment, its routes, a restart per environment,
// and the recent events. Each app's name leads to its own page (app-view.jsx).
import { api, enc } from './api.js';
import { clock, useLoad } from './hooks.js';
import { say } from './message.jsx';
import { may, roleIn } from './roles.js';
import { Table } from './table.jsx';

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
      <Table
        id="events"
        columns={[
          { title: 'time', cell: (e) => clock(e.at) },
          { title: 'app', cell: (e) => e.app },
          { title: 'env', cell: (e) => e.environment ?? '' },
          { title: 'service', cell: (e) => e.service ?? '' },
          { title: 'event', cell: (e) => e.message ?? e.kind },
        ]}
        rows={[...b.events].reverse()}
      />
    </section>
  );
}

function AppCard({ app, mayControl, instances, routes, onRestart }) {
  const envs = [...new Set(instances.map((i) => i.env))];
  // Grouped by environment; the first line of each carries its restart button.
  const rows = envs.flatMap((env) => instances.filter((i) => i.env === env).map((i, n) => ({ i, first: n === 0 })));
  return (
    <section class="app" data-app={app}>
      <h2>
        <a href={`#/app/${enc(app)}`}>{app}</a>
      </h2>
      <Table
        class="instances"
        columns={[
          { title: 'env', cell: ({ i }) => i.env },
          { title: 'service', cell: ({ i }) => i.service },
          { title: 'instance', cell: ({ i }) => i.instance },
          { title: 'release', cell: ({ i }) => i.release },
          { title: 'state', cell: ({ i }) => i.state, attrs: ({ i }) => ({ class: `state state-${i.state}` }) },
          { title: 'port', cell: ({ i }) => i.port ?? '' },
          { title: 'restarts', cell: ({ i }) => i.restarts },
          {
            title: '',
            hidden: 'actions',
            // One restart per environment, on its first line; the member role is needed.
            cell: ({ i, first }) =>
              first &&
              mayControl && (
                <button type="button" data-action="restart" data-env={i.env} onClick={() => onRestart(app, i.env)}>
                  Restart {i.env}
                </button>
              ),
          },
        ]}
        rows={rows}
        rowKey={({ i }) => `${i.env}-${i.service}-${i.instance}`}
        empty="no instances"
      />
      {routes.length > 0 && (
        <Table
          class="routes"
          columns={[
            { title: 'route', cell: (r) => `${r.host}${r.path}` },
            { title: 'env', cell: (r) => r.env },
            { title: 'service', cell: (r) => r.service },
            {
              title: 'healthy',
              cell: (r) => (r.healthy ? 'yes' : 'no'),
              attrs: (r) => ({ class: `healthy-${r.healthy ? 'yes' : 'no'}` }),
            },
          ]}
          rows={routes}
          rowKey={(r) => `${r.host}${r.path}${r.env}`}
        />
      )}
    </section>
  );
}
