import { parentPort, workerData } from 'node:worker_threads';
import { removeTree } from './safe-tree.js';

/**
 * The thread side of `removeTreeOffThread`: removes the one tree it is given (safe-tree's removal,
 * following no link), then answers with nothing or with the error, and ends.
 */
export interface RemovalAnswer {
  readonly ok: boolean;
  readonly message?: string;
  readonly code?: string;
}

try {
  removeTree(workerData as string);
  parentPort?.postMessage({ ok: true } satisfies RemovalAnswer);
} catch (err) {
  const e = err as NodeJS.ErrnoException;
  parentPort?.postMessage({
    ok: false,
    message: e.message,
    ...(e.code ? { code: e.code } : {}),
  } satisfies RemovalAnswer);
}
