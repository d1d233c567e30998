/**
 * The spawner's thread (see spawner.ts): starts each instance as process-runner's
 * `spawnInstance` does, and reports back per launch id: started (pid and start time) or
 * failed, then the exit of the process and the end of its log writer.
 */
import { parentPort } from 'node:worker_threads';
import { spawnInstance, type LaunchSpec } from './process-runner.js';
import type { SpawnerMessage } from './spawner.js';

const port = parentPort;
if (!port) throw new Error('spawner-worker.js runs as a worker thread of berthd');
const post = (m: SpawnerMessage) => port.postMessage(m);

port.on('message', ({ id, spec }: { id: number; spec: LaunchSpec }) => {
  spawnInstance(spec).then(
    (launched) => {
      launched.child.once('exit', (code, signal) => post({ id, type: 'exit', code, signal }));
      void launched.logged.then(() => post({ id, type: 'logged' }));
      post({ id, type: 'spawned', pid: launched.pid, startTicks: launched.startTicks });
    },
    (err: NodeJS.ErrnoException) => {
      post({ id, type: 'failed', message: err.message, code: err.code });
      post({ id, type: 'logged' });
    },
  );
});
