// The dashboard's only way to berthd: the same HTTP API the CLI uses, signed in with a session cookie
// (httpOnly, SameSite=Strict). Changes carry the CSRF token the sign-in returned. It is kept in localStorage,
// which belongs to this origin only (scheme, host and port): every tab and a reload have it, while an app on
// another port of the same host, which the cookie does reach, never sees it.

const CSRF_KEY = 'berth.csrf';
let csrf = localStorage.getItem(CSRF_KEY);
/** Called when berthd answers 401: the page shows the sign-in form. */
let onSignedOut = () => {};

export const hasCsrf = () => Boolean(csrf);
export function setCsrf(token) {
  csrf = token;
  if (token) localStorage.setItem(CSRF_KEY, token);
  else localStorage.removeItem(CSRF_KEY);
}
export function whenSignedOut(fn) {
  onSignedOut = fn;
}
export const enc = encodeURIComponent;

async function send(method, path, body, signal) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['x-csrf-token'] = csrf;
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    signal,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.ok) return res;
  const data = await res.json().catch(() => ({}));
  const err = new Error(data?.error?.message ?? `${res.status} ${res.statusText}`);
  err.status = res.status;
  err.hint = data?.error?.hint;
  if (res.status === 401 && path !== '/v1/login') onSignedOut();
  throw err;
}

/** A call to the API; a non-2xx answer throws with the API's own message and hint. */
export async function api(method, path, body) {
  const res = await send(method, path, body);
  return res.json().catch(() => ({}));
}

/** Reads a streamed response line by line (NDJSON or text) until it ends or `signal` aborts it. */
export async function lines(method, path, body, onLine, signal) {
  const res = await send(method, path, body, signal);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let rest = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const parts = (rest + decoder.decode(value, { stream: true })).split('\n');
    rest = parts.pop() ?? '';
    for (const p of parts) onLine(p);
  }
  if (rest) onLine(rest);
}

/** A deployment or rollback with `stream: true`: each step list as it changes, then the result. */
export async function streamDeploy(path, body, onSteps) {
  let last;
  await lines('POST', path, { ...body, stream: true }, (line) => {
    if (!line.trim()) return;
    const msg = JSON.parse(line);
    if (msg.steps) onSteps(msg.steps);
    else last = msg;
  });
  if (last?.error) throw new Error(last.error.message);
  return last?.result;
}
