import { request } from 'undici';

/** GET http://127.0.0.1:<port><path> and parse JSON; throws on connection errors. */
export async function getJson<T>(port: number, path = '/'): Promise<T> {
  const res = await request(`http://127.0.0.1:${port}${path}`, { headersTimeout: 5000, bodyTimeout: 5000 });
  return (await res.body.json()) as T;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
