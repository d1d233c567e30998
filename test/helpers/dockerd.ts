import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { ContainerEngine } from '../../src/runtime/container-engine.js';
import { assertOk, sleep, type TestHome } from './home.js';
import { claimNetSlot, releaseNetSlot, removeSlotBridges, slotPool } from './net-slots.js';

/**
 * A private Docker daemon for one test file: its own data root, exec root, pidfile and socket
 * under `dir`, its networks in its own /20 of 10.213.0.0/16 (net-slots.ts; nothing else here uses 10.x), no default bridge.
 * Run the tests in a network namespace of their own (see the brief): the daemon's bridges and
 * its proxies live there and go with it. No iptables rules (the namespace is the boundary) and
 * no forwarding between bridges, so one app's network does not reach another's (`iptables: true`
 * runs it as a host's Docker runs, in a namespace of the test's own: test/container-isolation). Nothing is pulled:
 * images are built here from Debian's static busybox.
 */
export class TestDockerd {
  readonly dir: string;
  readonly socket: string;
  readonly engine: ContainerEngine;
  /** With iptables (and forwarding) on, as a host's Docker runs: only in a network namespace of the test's own. */
  readonly iptables: boolean;
  /**
   * With `--userns-remap=default`: dockerd maps a container's root to the subordinate ids of its user
   * dockremap, and makes that user and its /etc/subuid, /etc/subgid entries when they are missing (only adds).
   */
  readonly usernsRemap: boolean;
  #pid: number | undefined;
  #slot: number | undefined;

  constructor(dir: string, opts: { iptables?: boolean; usernsRemap?: boolean } = {}) {
    this.dir = dir;
    this.iptables = opts.iptables ?? false;
    this.usernsRemap = opts.usernsRemap ?? false;
    this.socket = path.join(dir, 'docker.sock');
    this.engine = new ContainerEngine(this.socket);
  }

  /** This engine's network slot (see net-slots.ts), claimed on first use, given back by stop(). */
  protected slot(): number {
    this.#slot ??= claimNetSlot();
    return this.#slot;
  }

  /** The daemon's program and arguments: everything under `dir`. */
  protected command(): [string, string[]] {
    return [
      'dockerd',
      [
        '--data-root',
        path.join(this.dir, 'data'),
        '--exec-root',
        path.join(this.dir, 'exec'),
        '--pidfile',
        path.join(this.dir, 'dockerd.pid'),
        '-H',
        `unix://${this.socket}`,
        '--bridge',
        'none',
        '--default-address-pool',
        `base=${slotPool(this.slot())},size=28`,
        ...(this.iptables ? [] : ['--iptables=false', '--ip-forward=false']),
        ...(this.usernsRemap ? ['--userns-remap=default'] : []),
        '--log-level',
        'warn',
      ],
    ];
  }

  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    if (this.usernsRemap) chmodSync(this.dir, 0o711); // the remapped root passes through to its data root
    const [program, args] = this.command();
    const logFile = path.join(this.dir, `${path.basename(program)}.log`);
    const log = openSync(logFile, 'a');
    const child = spawn(program, args, {
      stdio: ['ignore', log, log],
      detached: true,
      env: { ...process.env, PATH: `/usr/sbin:/sbin:${process.env.PATH}` },
    });
    child.unref();
    this.#pid = child.pid;
    for (let i = 0; i < 300; i++) {
      if (await this.engine.ping()) return;
      await sleep(100);
    }
    throw new Error(`${program} did not answer: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
  }

  /**
   * Builds `tag` FROM scratch: Debian's static busybox (httpd, sh) and `files` under /www, served on
   * port 8080 by `busybox httpd` unless a service says otherwise (`cgi-bin/*` are executable: CGI).
   * Its wget crashes with -T: time it with `timeout N wget` instead.
   */
  async buildImage(tag: string, files: Record<string, string>): Promise<void> {
    const ctx = path.join(this.dir, `ctx-${tag.replace(/[^a-z0-9]/gi, '-')}`);
    mkdirSync(path.join(ctx, 'www'), { recursive: true });
    copyFileSync('/bin/busybox', path.join(ctx, 'busybox'));
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(ctx, 'www', name)), { recursive: true });
      writeFileSync(path.join(ctx, 'www', name), text, { mode: name.startsWith('cgi-bin/') ? 0o755 : 0o644 });
    }
    writeFileSync(
      path.join(ctx, 'Dockerfile'),
      [
        'FROM scratch',
        'COPY busybox /bin/busybox',
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
        'COPY www /www',
        'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]',
        '',
      ].join('\n'),
    );
    await this.buildTar(tag, ['-c', '-C', ctx, '.']);
  }

  /**
   * Builds `tag` FROM scratch with this host's node binary and the libraries it links (from ldd),
   * and `files` under /app, running `node /app/<main>`: a Node app in a container, nothing pulled.
   */
  async buildNodeImage(tag: string, files: Record<string, string>, main: string): Promise<void> {
    const ctx = path.join(this.dir, `ctx-${tag.replace(/[^a-z0-9]/gi, '-')}`);
    mkdirSync(path.join(ctx, 'app'), { recursive: true });
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(ctx, 'app', name), text);
    const node = realpathSync(process.execPath);
    const libs = [...execFileSync('ldd', [node], { encoding: 'utf8' }).matchAll(/(\/\S+) \(0x/g)].map(
      (m) => m[1] as string,
    );
    const host = [node, ...libs].map((f) => f.slice(1)); // relative to /, as the context holds them
    const dockerfile = [
      'FROM scratch',
      ...['app', ...new Set(host.map((f) => f.split('/')[0]))].map((d) => `COPY ${d} /${d}`),
    ];
    writeFileSync(path.join(ctx, 'Dockerfile'), [...dockerfile, `CMD ["/${host[0]}", "/app/${main}"]`, ''].join('\n'));
    // -h: the libraries' links are stored as the files they name.
    await this.buildTar(tag, ['-ch', '-C', ctx, '.', '-C', '/', ...host]);
  }

  /** Builds `tag` through the engine API from the tar that `tar` with `args` writes (a build context). */
  async buildTar(tag: string, args: readonly string[]): Promise<void> {
    const tar = spawn('tar', args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const body = await this.engine.stream(
      'POST',
      `/build?t=${encodeURIComponent(tag)}&rm=1`,
      tar.stdout,
      'application/x-tar',
    );
    let out = '';
    for await (const chunk of body) out += String(chunk);
    if (out.includes('"errorDetail"') || !out.includes('Successfully tagged'))
      throw new Error(`building ${tag}: ${out}`);
  }

  /** Stops the daemon by its pid (and its containers with it), waiting for it to be gone; gives its slot back. */
  async stop(): Promise<void> {
    this.engine.close();
    const pid = this.#pid;
    this.#pid = undefined;
    if (pid !== undefined) await endProcess(pid);
    if (this.#slot !== undefined) {
      removeSlotBridges(this.#slot);
      releaseNetSlot(this.#slot);
      this.#slot = undefined;
    }
  }

  /** Stops the daemon, then removes its directory (its mounts are gone with it). */
  async remove(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function endProcess(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 200; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await sleep(100);
  }
  process.kill(pid, 'SIGKILL');
}

/** The homes of this test file on each engine, and its start: the first home starts it, the last one done removes it. */
const shared = new Map<TestDockerd, { homes: number; started: Promise<void> }>();

/**
 * A test file's private engine beside its Berth home: before the tests the engine starts (once for
 * all the homes of the file on it: one engine per file), then `prepare` runs (config.yaml, images to
 * build), then berthd; after them the home goes, then the engine with its last home.
 */
export function withEngine(home: TestHome, engine: TestDockerd, prepare?: () => Promise<void>): void {
  home.env.BERTH_CONTAINER_ENGINE = `unix://${engine.socket}`;
  before(async () => {
    const use = shared.get(engine) ?? { homes: 0, started: engine.start() };
    use.homes++;
    shared.set(engine, use);
    await use.started;
    await prepare?.();
    assertOk(await home.cli('daemon', 'start'));
  });
  after(async () => {
    try {
      await home.cleanup();
    } finally {
      const use = shared.get(engine);
      if (use && --use.homes === 0) {
        shared.delete(engine);
        await engine.remove();
      }
    }
  });
}
