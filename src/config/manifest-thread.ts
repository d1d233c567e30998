import { Worker } from 'node:worker_threads';
import { BerthError, type ErrorKind } from '../core/errors.js';
import { deepFreeze } from '../core/freeze.js';
import { ManifestError, parseManifest, type ManifestLimits } from './manifest.js';
import type { Manifest } from './manifest-types.js';
import type { ManifestJob } from './manifest-worker.js';

type Answer =
  | { ok: true; manifest: Manifest }
  | { ok: false; error: { kind: ErrorKind; code: string; message: string; hint?: string; details?: unknown } };

interface Pending {
  readonly job: ManifestJob;
  readonly resolve: (m: Manifest) => void;
  readonly reject: (err: unknown) => void;
}

/** Manifests up to this many characters (nearly all) are parsed at once, in a few ms: no thread to wake. */
const INLINE_CHARS = 8 * 1024;

/**
 * Parses manifests off berthd's event loop, so that a big upload never holds up anyone
 * else's request (a 1 MiB berth.yaml takes seconds of CPU under `--lite-mode`). One worker
 * thread, started on first use and ended after `idleMs` without work; jobs run one at a time,
 * in order. A job that runs past `timeoutMs` ends the worker and fails; the next starts a new one.
 */
export class ManifestThread {
  readonly #limits: ManifestLimits;
  readonly #timeoutMs: number;
  readonly #idleMs: number;
  readonly #queue: Pending[] = [];
  #worker: Worker | undefined;
  #current: Pending | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(limits: ManifestLimits, opts: { timeoutMs?: number; idleMs?: number } = {}) {
    this.#limits = limits;
    this.#timeoutMs = opts.timeoutMs ?? 60_000;
    this.#idleMs = opts.idleMs ?? 30_000;
  }

  /** Same result and errors as `parseManifest(text, file, limits)`. */
  readonly parse = (text: string, file: string): Promise<Manifest> =>
    new Promise((resolve, reject) => {
      if (text.length <= INLINE_CHARS) {
        resolve(parseManifest(text, file, this.#limits));
        return;
      }
      this.#queue.push({ job: { text, file, limits: this.#limits }, resolve, reject });
      this.#next();
    });

  /** Ends the worker; queued jobs fail. */
  close(): void {
    const stopping = () => new BerthError('unavailable', 'stopping', 'berthd is stopping');
    for (const p of this.#queue.splice(0)) p.reject(stopping());
    this.#end(stopping());
  }

  #next(): void {
    if (this.#current) return;
    clearTimeout(this.#timer);
    const p = this.#queue.shift();
    if (!p) {
      this.#worker?.unref();
      this.#timer = setTimeout(() => this.#end(), this.#idleMs).unref();
      return;
    }
    this.#current = p;
    const worker = this.#start();
    worker.ref();
    this.#timer = setTimeout(
      () =>
        this.#end(
          new BerthError('invalid', 'manifest_too_slow', `${p.job.file}: reading it took over ${this.#timeoutMs} ms`, {
            hint: 'make it smaller: fewer services, shorter values',
          }),
        ),
      this.#timeoutMs,
    );
    worker.postMessage(p.job);
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(new URL('./manifest-worker.js', import.meta.url), {
      resourceLimits: { maxOldGenerationSizeMb: 512 },
    });
    worker.on('message', (a: Answer) => {
      const p = this.#current;
      if (!p || worker !== this.#worker) return;
      this.#current = undefined;
      if (a.ok) p.resolve(deepFreeze(a.manifest));
      else p.reject(rebuild(a.error));
      this.#next();
    });
    const lost = (why: string) => {
      if (worker === this.#worker)
        this.#end(new BerthError('invalid', 'manifest_unreadable', `${this.#current?.job.file}: ${why}`));
    };
    worker.on('error', (err) => lost(`reading it failed: ${err.message}`));
    worker.on('exit', (code) => lost(`the reader stopped (exit ${code})`));
    this.#worker = worker;
    return worker;
  }

  /** Ends the worker; the job it ran (if any) fails with `err`, and the queue goes on with a new one. */
  #end(err?: BerthError): void {
    clearTimeout(this.#timer);
    const worker = this.#worker;
    this.#worker = undefined;
    void worker?.terminate();
    const p = this.#current;
    this.#current = undefined;
    if (p) p.reject(err ?? new BerthError('unavailable', 'stopping', 'berthd is stopping'));
    if (err && this.#queue.length > 0) this.#next();
  }
}

function rebuild(e: Extract<Answer, { ok: false }>['error']): BerthError {
  const details = e.details as { file?: string; problems?: string[] } | undefined;
  if (e.code === 'invalid_manifest' && details?.file !== undefined && Array.isArray(details.problems))
    return new ManifestError(details.file, details.problems);
  return new BerthError(e.kind, e.code, e.message, { ...(e.hint ? { hint: e.hint } : {}), details: e.details });
}
