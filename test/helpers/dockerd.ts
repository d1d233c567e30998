import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ContainerEngine } from '../../src/runtime/container-engine.js';
import { sleep } from './home.js';

/**
 * A private Docker daemon for one test file: its own data root, exec root, pidfile and socket
 * under `dir`, its bridges in 10.213.0.0/16 (nothing else here uses 10.x: see `ip route`).
 * Run the tests in a network namespace of their own (see the brief): the daemon's bridges and
 * its proxies live there and go with it. No iptables rules (the namespace is the boundary) and
 * no forwarding between bridges, so one app's network does not reach another's. Nothing is pulled:
 * images are built here from Debian's static busybox.
 */
export class TestDockerd {
  readonly dir: string;
  readonly socket: string;
  readonly engine: ContainerEngine;
  #pid: number | undefined;

  constructor(dir: string) {
    this.dir = dir;
    this.socket = path.join(dir, 'docker.sock');
    this.engine = new ContainerEngine(this.socket);
  }

  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const log = openSync(path.join(this.dir, 'dockerd.log'), 'a');
    const child = spawn(
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
        '--bip',
        '10.213.0.1/24',
        '--default-address-pool',
        'base=10.213.16.0/20,size=28',
        '--iptables=false',
        '--ip-forward=false',
        '--log-level',
        'warn',
      ],
      {
        stdio: ['ignore', log, log],
        detached: true,
        env: { ...process.env, PATH: `/usr/sbin:/sbin:${process.env.PATH}` },
      },
    );
    child.unref();
    this.#pid = child.pid;
    for (let i = 0; i < 300; i++) {
      if (await this.engine.ping()) return;
      await sleep(100);
    }
    throw new Error(`dockerd did not answer: ${readFileSync(path.join(this.dir, 'dockerd.log'), 'utf8').slice(-2000)}`);
  }

  /**
   * Builds `tag` FROM scratch: Debian's static busybox (httpd, sh) and `files` under /www, served on
   * port 8080 by `busybox httpd` unless a service says otherwise.
   */
  async buildImage(tag: string, files: Record<string, string>): Promise<void> {
    const ctx = path.join(this.dir, `ctx-${tag.replace(/[^a-z0-9]/gi, '-')}`);
    mkdirSync(path.join(ctx, 'www'), { recursive: true });
    copyFileSync('/bin/busybox', path.join(ctx, 'busybox'));
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(ctx, 'www', name), text);
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
    const tar = spawn('tar', ['-c', '-C', ctx, '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
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

  /** Stops the daemon by its pid (and its containers with it), waiting for it to be gone. */
  async stop(): Promise<void> {
    this.engine.close();
    const pid = this.#pid;
    if (pid === undefined) return;
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

  /** Stops the daemon, then removes its directory (its mounts are gone with it). */
  async remove(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
