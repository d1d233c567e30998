import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { LaunchSpec } from './process-runner.js';

/**
 * The thread that starts instances. A spawn blocks its thread until the child has exec'd
 * (libuv waits for it, ~7 ms on a small VM), and an instance is two spawns (its log writer and
 * the app), so 1,000 starts on berthd's event loop held it for ~14 s in 7 ms slices, and a
 * `berth ps` beside a big deploy waited seconds for its turn. Here the spawns run on a worker
 * thread of their own (spawner-worker.ts): the event loop only posts a message and reads the
 * answer. The worker also reaps the children and relays each exit as ChildProcess would.
 */

/** What the caller watches of a process it launched: its exit, as ChildProcess reports it. */
export interface ChildExit {
  once(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
}

export interface Spawned {
  readonly pid: number;
  readonly startTicks: string;
  readonly child: ChildExit;
  /** Settles when the log writer has written everything and exited. */
  readonly logged: Promise<void>;
}

/** Messages from the worker, per launch id. */
export type SpawnerMessage =
  | { id: number; type: 'spawned'; pid: number; startTicks: string }
  | { id: number; type: 'failed'; message: string; code: string | undefined }
  | { id: number; type: 'exit'; code: number | null; signal: NodeJS.Signals | null }
  | { id: number; type: 'logged' };

interface Tracked {
  /** The launch's answer: started as pid (start time), with the exit and log-end the tracked entry relays. */
  started(pid: number, startTicks: string): void;
  reject(err: Error): void;
  child: EventEmitter;
  logged: () => void;
  settled: boolean;
  /** Forgotten once both came (or the launch failed and its writer ended): a writer may end before its app. */
  exited: boolean;
  written: boolean;
}

const WORKER = new URL('./spawner-worker.js', import.meta.url);

/**
 * The thread ends once none of its children runs for this long (~9 MiB of berthd's RSS, issue 14); the next launch
 * starts it again (tens of ms). While any instance it started runs, it stays: it reaps them and relays their exits.
 */
const IDLE_MS = 5000;

class Spawner {
  #worker: Worker | undefined;
  #next = 1;
  readonly #tracked = new Map<number, Tracked>();
  #idle: NodeJS.Timeout | undefined;

  launch(spec: LaunchSpec): Promise<Spawned> {
    clearTimeout(this.#idle);
    const id = this.#next++;
    return new Promise<Spawned>((resolve, reject) => {
      let logged!: () => void;
      const done = new Promise<void>((r) => (logged = r));
      const child = new EventEmitter();
      this.#tracked.set(id, {
        started: (pid, startTicks) => resolve({ pid, startTicks, child, logged: done }),
        reject,
        child,
        logged,
        settled: false,
        exited: false,
        written: false,
      });
      this.#thread().postMessage({ id, spec });
    });
  }

  #thread(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(WORKER);
    worker.unref(); // berthd's own work keeps it running; a short-lived caller may exit
    worker.on('message', (m: SpawnerMessage) => this.#message(m));
    const lost = (why: string) => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      // Launches not answered fail; started processes stay adopted-like: their exits are no longer relayed.
      for (const [id, t] of this.#tracked) {
        if (!t.settled) t.reject(new Error(`the spawner thread ${why} before the process started`));
        t.logged();
        this.#tracked.delete(id);
      }
    };
    worker.on('error', (err) => lost(`failed (${err.message})`));
    worker.on('exit', (code) => lost(`exited with ${code}`));
    this.#worker = worker;
    return worker;
  }

  #message(m: SpawnerMessage): void {
    const t = this.#tracked.get(m.id);
    if (!t) return;
    switch (m.type) {
      case 'spawned':
        t.settled = true;
        t.started(m.pid, m.startTicks);
        break;
      case 'failed': {
        t.settled = true;
        t.exited = true;
        const err = new Error(m.message) as NodeJS.ErrnoException;
        if (m.code !== undefined) err.code = m.code;
        t.reject(err);
        break;
      }
      case 'exit':
        t.exited = true;
        t.child.emit('exit', m.code, m.signal);
        break;
      case 'logged':
        t.written = true;
        t.logged();
        break;
    }
    if (t.exited && t.written) this.#tracked.delete(m.id);
    if (this.#tracked.size === 0) this.#endWhenIdle();
  }

  #endWhenIdle(): void {
    clearTimeout(this.#idle);
    this.#idle = setTimeout(() => {
      const worker = this.#worker;
      if (!worker || this.#tracked.size > 0) return;
      this.#worker = undefined; // its exit is no loss: nothing is tracked
      void worker.terminate();
    }, IDLE_MS).unref();
  }
}

export const spawner = new Spawner();
