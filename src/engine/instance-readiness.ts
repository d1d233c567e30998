import { BerthError } from '../core/errors.js';
import { isDown } from '../core/instance-state.js';
import { Redactor } from '../core/redact.js';
import type { LastExit } from '../core/results.js';
import { tailLines } from '../runtime/log-files.js';
import { sleep } from '../runtime/process-runner.js';
import type { InstanceView } from '../store/instances-repo.js';
import type { StateListener } from './instance-manager.js';

/** What waiting for an instance needs of the instance manager. */
export interface ReadinessSource {
  get(id: number): Promise<InstanceView | undefined>;
  /** Listens to the state changes of instance `id` until the returned function is called. */
  subscribe(id: number, listener: StateListener): () => void;
  /** Settles when the log writer of an instance this daemon started has written its last output. */
  logged(id: number): Promise<void> | undefined;
  logFile(v: InstanceView): string;
  secretEnv: ((app: string, env: string) => Promise<Record<string, string>>) | undefined;
}

/**
 * Resolves when the instance is healthy; rejects when it goes down instead (exit, never
 * ready within `timeoutMs`) with the reason and its last log lines, its own secrets redacted.
 */
export async function waitReady(src: ReadinessSource, id: number, timeoutMs: number): Promise<void> {
  const current = await src.get(id);
  if (!current) throw new BerthError('not_found', 'instance_not_found', `instance ${id} does not exist`);
  if (current.state === 'healthy') return;
  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const done = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      unsubscribe();
      if (err) reject(err);
      else resolve();
    };
    const unsubscribe = src.subscribe(id, (_v, _from, to) => {
      if (to === 'healthy') done();
      else if (isDown(to)) void notReady(src, id, to).then(done);
    });
    const timer = setTimeout(() => {
      void src
        .get(id)
        .then((v) => (v?.state === 'healthy' ? done() : notReady(src, id, 'not ready in time').then(done)));
    }, timeoutMs);
  });
}

async function notReady(src: ReadinessSource, id: number, state: string): Promise<Error> {
  const v = await src.get(id);
  if (!v) return new BerthError('failed', 'not_ready', `instance ${id} is gone`);
  const exit = v.lastExit ? (JSON.parse(v.lastExit) as LastExit) : undefined;
  const why =
    exit?.note ?? (exit ? (exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`) : state);
  // A process that exited at once may have output still on its way to the file: its writer ends when it is there.
  if (v.pid === null) await Promise.race([src.logged(id), sleep(2000)]);
  const lines = tailLines(src.logFile(v), 10);
  const own = new Redactor();
  own.set(Object.values((await src.secretEnv?.(v.app, v.env)) ?? {}));
  return new BerthError(
    'failed',
    'not_ready',
    own.redact(
      `${v.app}/${v.service}[${v.idx}] did not become ready (${state}): ${why}${lines.length ? `; last log lines:\n${lines.map((l) => `  ${l}`).join('\n')}` : '; it logged nothing'}`,
    ),
    {
      hint: `see \`berth logs ${v.app} ${v.service}\`; the readiness check is services.${v.service}.health in berth.yaml`,
    },
  );
}
