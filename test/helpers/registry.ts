import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import type { ContainerEngine } from '../../src/runtime/container-engine.js';
import { sleep } from './home.js';

/**
 * A real image registry for one test file: Debian's `docker-registry` (distribution 2.x) on
 * 127.0.0.1:<port>, its own config and storage under `dir`, with htpasswd auth (bcrypt, made by
 * apache2-utils' `htpasswd -B`). The engine talks plain HTTP to it: dockerd treats 127.0.0.0/8
 * registries as insecure by default. With `netns` it runs in that network namespace on `host`
 * (a swarm's manager, see swarm-cluster.ts), whose engines list it with --insecure-registry.
 */
export class TestRegistry {
  readonly address: string;
  #pid: number | undefined;

  constructor(
    readonly dir: string,
    readonly port: number,
    readonly user: string,
    readonly password: string,
    readonly where: { readonly host?: string; readonly netns?: string } = {},
  ) {
    this.address = `${where.host ?? '127.0.0.1'}:${port}`;
  }

  async start(): Promise<void> {
    mkdirSync(path.join(this.dir, 'storage'), { recursive: true });
    const htpasswd = path.join(this.dir, 'htpasswd');
    writeFileSync(htpasswd, execFileSync('htpasswd', ['-Bbn', this.user, this.password]));
    const config = path.join(this.dir, 'config.yml');
    writeFileSync(
      config,
      [
        'version: 0.1',
        'log: { level: warn, accesslog: { disabled: true } }',
        `storage: { filesystem: { rootdirectory: ${path.join(this.dir, 'storage')} }, delete: { enabled: true } }`,
        `http: { addr: "${this.address}" }`,
        `auth: { htpasswd: { realm: berth-test, path: ${htpasswd} } }`,
        '',
      ].join('\n'),
    );
    const log = openSync(path.join(this.dir, 'registry.log'), 'a');
    const argv = ['docker-registry', 'serve', config];
    const ns = this.where.netns;
    // nsenter enters the namespace and execs the registry: the pid is the registry's.
    const [program, ...args] = ns ? ['nsenter', `--net=/run/netns/${ns}`, '--', ...argv] : argv;
    const child = spawn(program as string, args, { stdio: ['ignore', log, log], detached: true });
    child.unref();
    this.#pid = child.pid;
    for (let i = 0; i < 200; i++) {
      if (await listening(this.port, this.where.host ?? '127.0.0.1')) return;
      await sleep(50);
    }
    throw new Error(`docker-registry did not listen: ${readFileSync(path.join(this.dir, 'registry.log'), 'utf8')}`);
  }

  /** Pushes `image` (a tag of this registry on `engine`) with this registry's login; throws with the engine's error. */
  async push(engine: ContainerEngine, image: string, password = this.password): Promise<void> {
    const colon = image.lastIndexOf(':');
    const auth = Buffer.from(JSON.stringify({ username: this.user, password, serveraddress: this.address }))
      .toString('base64')
      .replace(/\+/g, '-')
      .replace(/\//g, '_');
    const res = await engine.stream(
      'POST',
      `/images/${encodeURIComponent(image.slice(0, colon))}/push?tag=${encodeURIComponent(image.slice(colon + 1))}`,
      undefined,
      undefined,
      { 'X-Registry-Auth': auth },
    );
    let out = '';
    for await (const chunk of res) out += String(chunk);
    if (out.includes('"error"')) throw new Error(`pushing ${image}: ${out}`);
  }

  stop(): void {
    if (this.#pid === undefined) return;
    try {
      process.kill(this.#pid, 'SIGTERM');
    } catch {
      // gone already
    }
    this.#pid = undefined;
  }
}

function listening(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, host);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
