import { parentPort } from 'node:worker_threads';
import { readUploadBody } from '../api/upload-body.js';
import { BerthError } from '../core/errors.js';
import { parseManifest, type ManifestLimits } from './manifest.js';
import { toWire } from './thread-wire.js';

/** The worker side of `ManifestThread`: one job per message, answered with its result or its error. */
export type ThreadJob =
  | { readonly kind: 'manifest'; readonly text: string; readonly file: string; readonly limits: ManifestLimits }
  | { readonly kind: 'upload'; readonly body: Uint8Array; readonly file: string; readonly limits: ManifestLimits };

parentPort?.on('message', (job: ThreadJob) => {
  try {
    if (job.kind === 'manifest') {
      parentPort?.postMessage({ ok: true, manifest: parseManifest(job.text, job.file, job.limits) });
      return;
    }
    const read = readUploadBody(job.body, (text, file) => parseManifest(text, file, job.limits));
    const { tree } = read;
    // The decoded files move to the event loop's thread without a copy.
    if (tree instanceof BerthError) parentPort?.postMessage({ ok: true, upload: { ...read, tree: toWire(tree, '') } });
    else parentPort?.postMessage({ ok: true, upload: read }, [tree.blob.buffer as ArrayBuffer]);
  } catch (err) {
    parentPort?.postMessage({ ok: false, error: toWire(err, job.file) });
  }
});
