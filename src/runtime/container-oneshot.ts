import type { ContainerEngine } from './container-engine.js';
import { EngineError } from './container-engine.js';
import { demux } from './container-logs.js';

/** What a one-shot container ended with: its exit code (null: killed at its timeout) and the end of its output. */
export interface OneShotResult {
  readonly code: number | null;
  readonly output: string;
}

/**
 * Runs a container to its end and removes it: a tool of an image run once (a managed
 * PostgreSQL's initdb, see engine/databases/postgres-image). A leftover of the same name (a
 * berthd killed while one ran) is removed first; the container is removed whatever happens.
 * After `timeoutMs` it is killed (the engine's stop: SIGTERM, then SIGKILL after 10 s).
 */
export async function runOnce(
  engine: ContainerEngine,
  name: string,
  config: Record<string, unknown>,
  timeoutMs: number,
): Promise<OneShotResult> {
  await remove(engine, name);
  const { Id } = await engine.call<{ Id: string }>('POST', `/containers/create?name=${name}`, config);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = { yes: false };
  try {
    await engine.call('POST', `/containers/${Id}/start`);
    timer = setTimeout(() => {
      timedOut.yes = true;
      void engine.call('POST', `/containers/${Id}/stop?t=10`).catch(() => undefined);
    }, timeoutMs);
    const { StatusCode } = await engine.call<{ StatusCode: number }>(
      'POST',
      `/containers/${Id}/wait?condition=not-running`,
    );
    clearTimeout(timer);
    let output = '';
    await demux(await engine.stream('GET', `/containers/${Id}/logs?stdout=1&stderr=1`), (chunk) => {
      output = (output + chunk.toString()).slice(-4000);
    }).catch(() => undefined);
    return { code: timedOut.yes ? null : StatusCode, output: output.trim() };
  } finally {
    clearTimeout(timer);
    await remove(engine, Id);
  }
}

async function remove(engine: ContainerEngine, idOrName: string): Promise<void> {
  await engine.call('DELETE', `/containers/${encodeURIComponent(idOrName)}?force=true&v=true`).catch((err) => {
    if (!(err instanceof EngineError && err.status === 404)) throw err;
  });
}
