// Berth's dashboard: a client of the same HTTP API the CLI uses, signed in with a session
// cookie (httpOnly, SameSite=Strict). Changes carry the CSRF token the sign-in returned. It
// is kept in localStorage, which belongs to this origin only (scheme, host and port): every
// tab and a reload have it, while an app on another port of the same host, which the cookie
// does reach, never sees it. Every value from the API goes into the page as text, never as
// markup.

const REFRESH_MS = 2000;
const CSRF_KEY = 'berth.csrf';
let csrf = localStorage.getItem(CSRF_KEY);
let timer;
/** Your role per organisation (none for root on the host, who may do everything). */
let roles = null;
/** What the banner shows: an action's error stays until the next action, a refresh's until a refresh works. */
let shown = null;

const $ = (selector) => document.querySelector(selector);

/** A call to the API; a non-2xx answer throws with the API's own message and hint. */
async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['x-csrf-token'] = csrf;
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error(data?.error?.message ?? `${res.status} ${res.statusText}`);
    err.status = res.status;
    err.hint = data?.error?.hint;
    throw err;
  }
  return data;
}

function say(text, from = 'action') {
  const m = $('#message');
  m.textContent = text ?? '';
  m.hidden = !text;
  shown = text ? from : null;
}

/** An element with text content and attributes; children appended as given. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') node.textContent = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function row(cells, cls = []) {
  return el(
    'tr',
    {},
    ...cells.map((c, i) =>
      c instanceof Node ? el('td', {}, c) : el('td', { text: String(c ?? ''), ...(cls[i] ? { class: cls[i] } : {}) }),
    ),
  );
}

function head(names) {
  return el('thead', {}, el('tr', {}, ...names.map((n) => el('th', { text: n }))));
}

function showLogin() {
  clearTimeout(timer);
  $('#board').hidden = true;
  $('#logout').hidden = true;
  $('#who').textContent = '';
  $('#login').hidden = false;
}

async function showBoard() {
  let me;
  try {
    me = await api('GET', '/v1/me');
  } catch (err) {
    if (err.status === 401) return showLogin();
    return say(err.message);
  }
  if (me.via === 'session' && !csrf) {
    // A session this browser has no token for (its storage was cleared): it could only read.
    say('Sign in again to use the dashboard in this browser.');
    return showLogin();
  }
  $('#login').hidden = true;
  $('#board').hidden = false;
  $('#logout').hidden = false;
  roles = me.user ? Object.fromEntries((me.orgs ?? []).map((o) => [o.name, o.role])) : null;
  $('#who').textContent = me.user
    ? `${me.user} (${(me.orgs ?? []).map((o) => `${o.name}: ${o.role}`).join(', ')})`
    : 'local';
  await refresh();
}

async function refresh() {
  clearTimeout(timer);
  try {
    const [apps, instances, routes, events] = await Promise.all([
      api('GET', '/v1/apps'),
      api('GET', '/v1/instances'),
      api('GET', '/v1/routes'),
      api('GET', '/v1/events?limit=20'),
    ]);
    render(apps, instances, routes, events);
    if (shown === 'refresh') say('');
  } catch (err) {
    if (err.status === 401) return showLogin();
    say(`cannot reach berthd: ${err.message}`, 'refresh');
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

function render(list, instances, routes, events) {
  const box = $('#apps');
  box.replaceChildren();
  if (list.apps.length === 0)
    box.append(el('p', { class: 'note', text: 'No apps yet. Deploy one: berth deploy <dir>' }));
  for (const app of list.apps) {
    // Restarting takes the member role; the API decides, the page only leaves out what would be refused.
    const mayControl = roles === null || ['member', 'admin', 'owner'].includes(roles[list.orgs?.[app]]);
    const mine = instances.filter((i) => i.app === app && i.current);
    const section = el('section', { class: 'app', 'data-app': app });
    section.append(el('h2', {}, el('span', { text: app })));
    const table = el(
      'table',
      { class: 'instances' },
      head(['env', 'service', 'instance', 'release', 'state', 'port', 'restarts', '']),
    );
    const body = el('tbody');
    const envs = [...new Set(mine.map((i) => i.env))];
    for (const env of envs) {
      mine
        .filter((i) => i.env === env)
        .forEach((i, n) => {
          // One restart per environment, on its first line.
          const restart =
            n === 0 && mayControl
              ? el('button', {
                  type: 'button',
                  text: `Restart ${env}`,
                  'data-action': 'restart',
                  'data-env': env,
                  onclick: () => control(app, env, 'restart'),
                })
              : '';
          body.append(
            row(
              [i.env, i.service, i.instance, i.release, i.state, i.port ?? '', i.restarts, restart],
              [, , , , `state state-${i.state}`],
            ),
          );
        });
    }
    if (mine.length === 0) body.append(row(['no instances']));
    table.append(body);
    section.append(table);
    const mineRoutes = routes.filter((r) => r.app === app);
    if (mineRoutes.length > 0) {
      const rt = el('table', { class: 'routes' }, head(['route', 'env', 'service', 'healthy']));
      const rb = el('tbody');
      for (const r of mineRoutes)
        rb.append(
          row(
            [`${r.host}${r.path}`, r.env, r.service, r.healthy ? 'yes' : 'no'],
            [, , , `healthy-${r.healthy ? 'yes' : 'no'}`],
          ),
        );
      rt.append(rb);
      section.append(rt);
    }
    box.append(section);
  }
  const tbody = $('#events tbody');
  tbody.replaceChildren(
    ...[...events]
      .reverse()
      .map((e) =>
        row([new Date(e.at).toLocaleTimeString(), e.app, e.environment ?? '', e.service ?? '', e.message ?? e.kind]),
      ),
  );
}

async function control(app, env, action) {
  say('');
  try {
    await api('POST', `/v1/apps/${encodeURIComponent(app)}/${action}`, { env });
  } catch (err) {
    say(`${action} ${app} (${env}): ${err.message}`);
  }
  await refresh();
}

$('#login').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  say('');
  try {
    const r = await api('POST', '/v1/login', {
      name: String(form.get('name')),
      password: String(form.get('password')),
      session: true,
    });
    csrf = r.csrf;
    localStorage.setItem(CSRF_KEY, csrf);
    event.target.reset();
    await showBoard();
  } catch (err) {
    say(err.message);
  }
});

$('#logout').addEventListener('click', async () => {
  try {
    await api('POST', '/v1/logout', {});
  } catch {
    // signed out either way
  }
  csrf = null;
  localStorage.removeItem(CSRF_KEY);
  say('');
  showLogin();
});

void showBoard();
