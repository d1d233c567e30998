import { parentPort } from 'node:worker_threads';
import { BerthError } from '../core/errors.js';
import { parseManifest, type ManifestLimits } from './manifest.js';

/** The worker side of `ManifestThread`: parses one manifest per message and answers with the result or the error. */
export interface ManifestJob {
  readonly text: string;
  readonly file: string;
  readonly limits: ManifestLimits;
}

parentPort?.on('message', (job: ManifestJob) => {
  try {
    parentPort?.postMessage({ ok: true, manifest: parseManifest(job.text, job.file, job.limits) });
  } catch (err) {
    const e =
      err instanceof BerthError
        ? { kind: err.kind, code: err.code, message: err.message, hint: err.hint, details: err.details }
        : { kind: 'invalid', code: 'invalid_manifest', message: `${job.file}: ${String(err)}` };
    parentPort?.postMessage({ ok: false, error: e });
  }
});
