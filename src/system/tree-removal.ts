import { lstatSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { removeTree } from './safe-tree.js';
import type { RemovalAnswer } from './tree-removal-worker.js';

/**
 * `removeTree` on a thread of its own, for trees that can be big: a release with its
 * node_modules (a Create React App one holds ~42,000 files), an environment's data. Removed
 * on berthd's event loop, such a tree held every request, timer and exit event for seconds
 * (72 s under a loaded disk); here the loop goes on while the thread unlinks. The same
 * removal as `removeTree`: every directory through its descriptor, no link followed.
 */
export function removeTreeOffThread(p: string): Promise<void> {
  // A missing name, a file or a link is one unlink: no thread for it.
  const st = lstatOrUndefined(p);
  if (!st?.isDirectory()) {
    removeTree(p);
    return Promise.resolve();
  }
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./tree-removal-worker.js', import.meta.url), { workerData: p });
    let answered = false;
    worker.once('message', (a: RemovalAnswer) => {
      answered = true;
      if (a.ok) resolve();
      else reject(Object.assign(new Error(a.message ?? `removing ${p} failed`), a.code ? { code: a.code } : {}));
    });
    worker.once('error', (err) => {
      answered = true;
      reject(err);
    });
    worker.once('exit', (code) => {
      if (!answered) reject(new Error(`the thread removing ${p} ended (exit code ${code}) before it was done`));
    });
  });
}

function lstatOrUndefined(p: string) {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}
