// Berth's dashboard (Preact, bundled by esbuild into dist/ui/app.js: scripts/bundle-ui.mjs). Every value from the
// API goes into the page as text (Preact sets text nodes), never as markup.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, hasCsrf, setCsrf, whenSignedOut } from './api.js';
import { useHashPath } from './hooks.js';
import { Message, say } from './message.jsx';
import { Overview } from './overview.jsx';
import { AppView } from './app-view.jsx';

function Login({ onIn }) {
  const submit = async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    say('');
    try {
      const r = await api('POST', '/v1/login', {
        name: String(form.get('name')),
        password: String(form.get('password')),
        session: true,
      });
      setCsrf(r.csrf);
      event.target.reset();
      onIn();
    } catch (err) {
      say(err.message);
    }
  };
  return (
    <form id="login" onSubmit={submit}>
      <h1>Sign in</h1>
      <label>
        User <input name="name" autocomplete="username" required maxlength="63" />
      </label>
      <label>
        Password <input name="password" type="password" autocomplete="current-password" required maxlength="1024" />
      </label>
      <button type="submit">Sign in</button>
      <p class="note">
        Users are made on the host: <code>berth admin create &lt;user&gt;</code>.
      </p>
    </form>
  );
}

function App() {
  /** undefined: asking; null: signed out; else GET /v1/me. */
  const [me, setMe] = useState(undefined);
  const [tries, setTries] = useState(0);
  const path = useHashPath();
  useEffect(() => whenSignedOut(() => setMe(null)), []);
  useEffect(() => {
    api('GET', '/v1/me')
      .then((m) => {
        if (m.via === 'session' && !hasCsrf()) {
          // A session this browser has no token for (its storage was cleared): it could only read.
          say('Sign in again to use the dashboard in this browser.');
          return setMe(null);
        }
        setMe(m);
      })
      .catch((err) => (err.status === 401 ? setMe(null) : say(err.message)));
  }, [tries]);
  const signOut = async () => {
    await api('POST', '/v1/logout', {}).catch(() => {}); // signed out either way
    setCsrf(null);
    say('');
    setMe(null);
  };
  const who = me?.user ? `${me.user} (${(me.orgs ?? []).map((o) => `${o.name}: ${o.role}`).join(', ')})` : 'local';
  return (
    <>
      <header>
        <a href="#/" class="brand">
          Berth
        </a>
        <span id="who">{me ? who : ''}</span>
        {me && (
          <button id="logout" type="button" onClick={signOut}>
            Sign out
          </button>
        )}
      </header>
      <Message />
      <main>
        {me === null && <Login onIn={() => setTries((t) => t + 1)} />}
        {me && (path[0] === 'app' && path[1] ? <AppView me={me} path={path} /> : <Overview me={me} />)}
      </main>
    </>
  );
}

render(<App />, document.body);
