import { Worker } from 'node:worker_threads';
import { readUploadBody, type UploadRead } from '../api/upload-body.js';
import type { DecodedTree } from '../api/upload-tree.js';
import { BerthError } from '../core/errors.js';
import { deepFreeze } from '../core/freeze.js';
import type { ManifestLimits } from './manifest-basics.js';
import type { Manifest } from './manifest-types.js';
import type { ThreadJob } from './manifest-worker.js';
import { fromWire, type WireError } from './thread-wire.js';

type Answer =
  | { ok: true; manifest: Manifest }
  | { ok: true; upload: Omit<UploadRead, 'tree'> & { tree: DecodedTree | WireError } }
  | { ok: false; error: WireError };

interface Pending {
  readonly job: ThreadJob;
  readonly transfer: ArrayBuffer[];
  readonly resolve: (a: Extract<Answer, { ok: true }>) => void;
  readonly reject: (err: unknown) => void;
}

/** The parser (zod, yaml: a third of berthd's bundle), loaded on the first manifest rather than at berthd's start. */
const parser = () => import('./manifest.js');

/** Manifests and upload bodies up to this many characters (nearly all manifests) are read at once, in a few ms: no thread to wake. */
const INLINE_CHARS = 8 * 1024;

/**
 * Parses manifests and reads upload bodies off berthd's event loop, so that a big upload
 * never holds up anyone else's request (a 1 MiB berth.yaml takes seconds of CPU under
 * `--lite-mode`; JSON-parsing and decoding its upload, some 100 ms). One worker thread,
 * started on first use and ended after `idleMs` without work; jobs run one at a time, in
 * order. A job that runs past `timeoutMs` ends the worker and fails; the next starts a new one.
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
  readonly parse = async (text: string, file: string): Promise<Manifest> => {
    if (text.length <= INLINE_CHARS) return (await parser()).parseManifest(text, file, this.#limits);
    const a = await this.#run({ kind: 'manifest', text, file, limits: this.#limits });
    if (!('manifest' in a)) throw new Error('the manifest thread answered a manifest with something else');
    return deepFreeze(a.manifest);
  };

  /**
   * Same result and errors as `readUploadBody(body, ...)` with the host's limits. A big body
   * is handed over (its memory moves to the thread: `body` is empty afterwards).
   */
  readonly readUpload = async (body: Buffer): Promise<UploadRead> => {
    const file = 'the upload';
    if (body.length <= INLINE_CHARS) {
      const { parseManifest } = await parser();
      return readUploadBody(body, (text, f) => parseManifest(text, f, this.#limits));
    }
    const own = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength;
    const bytes = own ? body : Uint8Array.prototype.slice.call(body);
    const a = await this.#run({ kind: 'upload', body: bytes, file, limits: this.#limits }, [
      bytes.buffer as ArrayBuffer,
    ]);
    if (!('upload' in a)) throw new Error('the manifest thread answered an upload with something else');
    const { tree } = a.upload;
    return { ...a.upload, tree: 'blob' in tree ? tree : fromWire(tree) };
  };

  #run(job: ThreadJob, transfer: ArrayBuffer[] = []): Promise<Extract<Answer, { ok: true }>> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ job, transfer, resolve, reject });
      this.#next();
    });
  }

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
    worker.postMessage(p.job, p.transfer);
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
      if (a.ok) p.resolve(a);
      else p.reject(fromWire(a.error));
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
