import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { procStat } from '../system/proc.js';

/**
 * What starts instances: launchers (src/native/launcher.c), small processes berthd starts once,
 * which fork and exec each instance and its log writer and report every exit. A fork copies the
 * page tables of the process that forks: berthd's own spawns (a Node process of ~100 MiB) cost
 * ~7 ms of CPU each, and every page it wrote next faulted, copy on write; two per instance made
 * most of the CPU of starting 1,000 instances (issue 14). A launcher forks in microseconds, and
 * berthd's event loop only writes a request and reads the answer. Two launchers: one waits for
 * each exec in turn (a loaded machine may take a while to run the child), the other starts the next.
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

/** One launch, as the launcher is told it. */
export interface LaunchRequest {
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly uid?: number | undefined;
  readonly gid?: number | undefined;
  /** The log writer's argv: its path, then its arguments. */
  readonly writer: readonly string[];
}

/**
 * A launched process's exit, kept: the launcher may report it in the same read as the start (a
 * command that ends at once), before the caller has had the start and said it listens, so a
 * listener added after the exit still gets it (ChildProcess's 'exit' would be missed then).
 */
class KeptExit implements ChildExit {
  #exit: [number | null, NodeJS.Signals | null] | undefined;
  readonly #listeners: Array<(code: number | null, signal: NodeJS.Signals | null) => void> = [];

  once(_event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this {
    const exit = this.#exit;
    if (exit) queueMicrotask(() => listener(...exit));
    else this.#listeners.push(listener);
    return this;
  }

  settle(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#exit) return;
    this.#exit = [code, signal];
    for (const l of this.#listeners.splice(0)) l(code, signal);
  }
}

interface Tracked {
  /** argv[0], for the error of a launch that failed. */
  program: string;
  resolve(s: Spawned): void;
  reject(err: Error): void;
  child: KeptExit;
  logged: () => void;
  done: Promise<void>;
}

const LAUNCHER = fileURLToPath(new URL('../native/launcher', import.meta.url));
const LAUNCHERS = 2;
const SIGNAL_NAMES = new Map(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));
const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

type Launcher = ChildProcessByStdio<Writable, Readable, null>;

/** One launcher process: its launches waiting for an answer, and its children by pid until they exit. */
class LauncherProcess {
  readonly proc: Launcher;
  readonly #pending = new Map<number, Tracked>();
  /** pid -> what its exit settles: the instance's exit event, or its writer's end. */
  readonly #children = new Map<number, (code: number | null, signal: NodeJS.Signals | null) => void>();
  /** Listen-table requests waiting for their "L" line, in order (undefined: the launcher is gone). */
  readonly #tables: Array<(line: string | undefined) => void> = [];
  #partial = '';

  constructor(onLost: () => void) {
    if (!existsSync(LAUNCHER))
      throw new Error(`${LAUNCHER} is missing: build Berth with \`npm run build\` (it needs a C compiler)`);
    this.proc = spawn(LAUNCHER, [], { stdio: ['pipe', 'pipe', 'inherit'], shell: false });
    // A launch waiting for its answer keeps the event loop alive (berthd's boot may wait for one before it
    // listens); otherwise the launcher does not: a short-lived caller may exit.
    this.proc.unref();
    this.#pipes(false);
    this.proc.stdin.on('error', () => undefined); // seen as the launcher's exit
    this.proc.stdout.setEncoding('utf8');
    this.proc.stdout.on('data', (text: string) => this.#read(text));
    let lost = false;
    const gone = (why: string) => {
      if (lost) return;
      lost = true;
      onLost();
      // Launches not answered fail; started processes stay adopted-like: their exits are no longer relayed.
      for (const t of this.#pending.values()) {
        t.reject(new Error(`the launcher ${why} before the process started`));
        t.logged();
      }
      this.#pending.clear();
      for (const answer of this.#tables.splice(0)) answer(undefined);
      for (const settle of this.#children.values()) settle(null, null);
      this.#children.clear();
    };
    this.proc.on('error', (err) => gone(`failed (${err.message})`));
    this.proc.on('exit', (code, signal) => gone(`exited with ${code ?? signal}`));
  }

  /** Refs or unrefs the launcher's pipes (the event loop waits for a referenced one). */
  #pipes(ref: boolean): void {
    for (const s of [this.proc.stdin, this.proc.stdout] as unknown as Array<{ ref?(): void; unref?(): void }>)
      if (ref) s.ref?.();
      else s.unref?.();
  }

  /** Whether launches or listen tables wait for an answer (the pipes are referenced meanwhile). */
  get busy(): boolean {
    return this.#pending.size > 0 || this.#tables.length > 0;
  }

  /** The launcher's "L" answer (listen-table.c), or undefined when it is gone before answering. */
  listenTable(): Promise<string | undefined> {
    if (!this.busy) this.#pipes(true);
    return new Promise((resolve) => {
      this.#tables.push(resolve);
      this.proc.stdin.write('2\nL\0');
    });
  }

  launch(id: number, r: LaunchRequest, t: Tracked): void {
    if (!this.busy) this.#pipes(true);
    this.#pending.set(id, t);
    const env = Object.entries(r.env).map(([k, v]) => `${k}=${v}`);
    const [writer, ...wargs] = r.writer;
    const owner = wargs.length > 3 ? [wargs[3] as string, wargs[4] as string] : ['', ''];
    const fields = [
      String(id),
      ...wargs.slice(0, 3),
      ...owner,
      writer as string,
      r.cwd,
      r.uid === undefined ? '-' : String(r.uid),
      r.gid === undefined ? (r.uid === undefined ? '-' : String(r.uid)) : String(r.gid),
      String(r.argv.length),
      ...r.argv,
      String(env.length),
      ...env,
    ];
    if (fields.some((f) => f.includes('\0'))) {
      this.#pending.delete(id);
      if (!this.busy) this.#pipes(false);
      t.reject(new Error('an argument or environment value holds a NUL character'));
      t.logged();
      return;
    }
    const body = Buffer.from(fields.join('\0') + '\0');
    this.proc.stdin.write(Buffer.concat([Buffer.from(`${body.length}\n`), body]));
  }

  #read(text: string): void {
    const lines = (this.#partial + text).split('\n');
    this.#partial = lines.pop() as string;
    for (const line of lines) {
      if (line.startsWith('L ')) {
        this.#tables.shift()?.(line);
        if (!this.busy) this.#pipes(false);
        continue;
      }
      const [kind, a, b, c] = line.split(' ');
      const [x, y, z] = [Number(a), Number(b), Number(c)];
      if (kind === 'X') {
        const settle = this.#children.get(x);
        this.#children.delete(x);
        settle?.(y >= 0 ? y : null, y >= 0 ? null : (SIGNAL_NAMES.get(z) ?? null));
        continue;
      }
      const t = this.#pending.get(x);
      if (!t) continue;
      this.#pending.delete(x);
      if (!this.busy) this.#pipes(false);
      if (kind === 'S') {
        this.#children.set(y, (code, signal) => t.child.settle(code, signal));
        this.#children.set(z, () => t.logged());
        t.resolve({ pid: y, startTicks: procStat(y)?.startTicks ?? '', child: t.child, logged: t.done });
      } else {
        if (y > 0) this.#children.set(y, () => t.logged());
        else t.logged();
        const code = ERRNO_NAMES.get(z) ?? `errno ${z}`;
        const err = new Error(`spawn ${t.program} ${code}`) as NodeJS.ErrnoException;
        err.code = code;
        t.reject(err);
      }
    }
  }
}

class Spawner {
  readonly #launchers: Array<LauncherProcess | undefined> = [];
  #next = 1;

  /**
   * The launcher's table of listening TCP sockets (its "L" answer line), from an idle launcher if one is, else the
   * first; undefined when no launcher can answer (not built, gone): the caller reads /proc instead.
   */
  async listenTable(): Promise<string | undefined> {
    try {
      const launcher = this.#launchers.find((l) => l && !l.busy) ?? this.#launchers.find((l) => l) ?? this.#launcher(0);
      return await launcher.listenTable();
    } catch {
      return undefined;
    }
  }

  #launcher(slot: number): LauncherProcess {
    const launcher: LauncherProcess = (this.#launchers[slot] ??= new LauncherProcess(() => {
      if (this.#launchers[slot] === launcher) this.#launchers[slot] = undefined;
    }));
    return launcher;
  }

  launch(r: LaunchRequest): Promise<Spawned> {
    const id = this.#next++;
    const slot = id % LAUNCHERS;
    return new Promise<Spawned>((resolve, reject) => {
      let logged!: () => void;
      const done = new Promise<void>((r) => (logged = r));
      const t: Tracked = { program: r.argv[0] as string, resolve, reject, child: new KeptExit(), logged, done };
      let launcher: LauncherProcess;
      try {
        launcher = this.#launcher(slot);
      } catch (err) {
        logged();
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      launcher.launch(id, r, t);
    });
  }
}

export const spawner = new Spawner();
