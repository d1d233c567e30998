import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { BerthError } from '../../core/errors.js';
import { runCommand } from '../../system/command.js';
import { writeFileAtomic } from '../../system/atomic-write.js';
import { listPids, procArgv, procStat } from '../../system/proc.js';
import type { Site } from '../edge/sites.js';
import type { Edge, EdgeOptions } from '../edge/edge-proxy.js';
import type { EdgeRoute } from '../proxy.js';
import { renderCommon, renderSite, type NginxRenderOptions } from './render.js';

export interface NginxOptions extends EdgeOptions {
  /** certbot's layout: <dir>/<host>/fullchain.pem and privkey.pem. Default /etc/letsencrypt/live. */
  readonly certDir: string;
  /** Write into an existing nginx instead of running Berth's own master. */
  readonly attach?:
    { readonly includeDir: string; readonly test: readonly string[]; readonly reload: readonly string[] } | undefined;
}

const PREFIX = 'berth-';

/**
 * nginx in front of the builtin proxy. One rendered file per app in a Berth-owned include
 * directory (files Berth did not write are never touched); `nginx -t` before every reload,
 * and when it fails the previous files come back, nothing reloads, and the error quotes
 * nginx. The config depends only on hostnames and certificates, so deploys never reload
 * nginx (a reload drops in-flight keep-alive requests).
 */
export class NginxEdge implements Edge {
  readonly kind = 'nginx';
  readonly #o: NginxOptions;
  readonly #prefix: string;
  readonly #render: NginxRenderOptions;

  constructor(o: NginxOptions) {
    this.#o = o;
    this.#prefix = path.join(o.home, 'nginx');
    this.#render = {
      httpPort: o.httpPort,
      httpsPort: o.httpsPort,
      upstreamPort: o.upstreamPort,
      certFor: (host) => {
        const dir = path.join(o.certDir, host);
        const cert = path.join(dir, 'fullchain.pem');
        const key = path.join(dir, 'privkey.pem');
        return existsSync(cert) && existsSync(key) ? { cert, key } : undefined;
      },
    };
  }

  get port(): number {
    return this.#o.httpPort;
  }

  get httpsPort(): number {
    return this.#o.httpsPort;
  }

  get includeDir(): string {
    return this.#o.attach?.includeDir ?? path.join(this.#prefix, 'sites');
  }

  #own(args: string[]): string[] {
    return [
      this.#o.binary,
      '-p',
      this.#prefix + '/',
      '-c',
      path.join(this.#prefix, 'nginx.conf'),
      '-e',
      path.join(this.#prefix, 'error.log'),
      ...args,
    ];
  }

  #testArgv(): readonly string[] {
    return this.#o.attach?.test ?? this.#own(['-t', '-q']);
  }

  #reloadArgv(): readonly string[] {
    return this.#o.attach?.reload ?? this.#own(['-s', 'reload']);
  }

  pid(): number | undefined {
    try {
      const pid = Number(readFileSync(path.join(this.#prefix, 'nginx.pid'), 'utf8').trim());
      process.kill(pid, 0);
      return pid;
    } catch {
      return undefined;
    }
  }

  /** Writes the main config of Berth's own master (once) and starts it when it is not running. */
  async start(): Promise<void> {
    mkdirSync(this.includeDir, { recursive: true, mode: 0o755 });
    if (this.#o.attach) return;
    for (const d of ['tmp', 'logs']) mkdirSync(path.join(this.#prefix, d), { recursive: true, mode: 0o755 });
    const main = `# Berth's own nginx master. Sites are in ${this.includeDir}.
worker_processes 1;
pid ${this.#prefix}/nginx.pid;
error_log ${this.#prefix}/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path ${this.#prefix}/tmp/body;
    proxy_temp_path ${this.#prefix}/tmp/proxy;
    fastcgi_temp_path ${this.#prefix}/tmp/fastcgi;
    uwsgi_temp_path ${this.#prefix}/tmp/uwsgi;
    scgi_temp_path ${this.#prefix}/tmp/scgi;
    include ${this.includeDir}/*.conf;
}
`;
    writeFileAtomic(path.join(this.#prefix, 'nginx.conf'), main);
    if (!existsSync(path.join(this.includeDir, `${PREFIX}00-common.conf`)))
      writeFileAtomic(path.join(this.includeDir, `${PREFIX}00-common.conf`), renderCommon(this.#render));
    if (this.pid()) return;
    await this.#check(this.#testArgv(), 'nginx -t');
    await this.#check(this.#own([]), 'starting nginx');
    this.#o.log.info({ pid: this.pid(), port: this.#o.httpPort }, 'nginx started');
  }

  /**
   * Routes in the include directory: Berth's files forward to the `berth_proxy` upstream;
   * in other files, every `proxy_pass http://host:port` with its server's `server_name`.
   */
  async routes(): Promise<EdgeRoute[]> {
    const out: EdgeRoute[] = [];
    for (const f of readdirSync(this.includeDir).filter((x) => x.endsWith('.conf'))) {
      const file = path.join(this.includeDir, f);
      const text = readFileSync(file, 'utf8');
      for (const server of text.split(/\bserver\s*\{/).slice(1)) {
        const hosts = /server_name\s+([^;]+);/.exec(server)?.[1]?.trim().split(/\s+/) ?? [];
        const dials = [...server.matchAll(/proxy_pass\s+https?:\/\/([^/;\s]+)/g)].map((m) =>
          m[1] === 'berth_proxy' ? `127.0.0.1:${this.#o.upstreamPort}` : (m[1] as string),
        );
        if (dials.length > 0) out.push({ berth: f.startsWith(PREFIX), hosts, dials, where: file });
      }
    }
    return out;
  }

  /** Restarts Berth's own master if it died. */
  async watch(): Promise<void> {
    if (!this.#o.attach && !this.pid()) await this.start();
  }

  async stop(): Promise<void> {
    if (!this.#o.attach && this.pid()) await this.#check(this.#own(['-s', 'quit']), 'stopping nginx');
  }

  /**
   * Makes the Berth files say `sites`. When nothing changes, nothing is written and nginx
   * is not reloaded. Otherwise: write, `nginx -t`, and reload, or restore and report.
   */
  async applySites(sites: readonly Site[]): Promise<void> {
    const wanted = new Map<string, string>([[`${PREFIX}00-common.conf`, renderCommon(this.#render)]]);
    for (const s of sites) wanted.set(`${PREFIX}app-${s.app}.conf`, renderSite(s, this.#render));
    const current = new Map<string, string>();
    for (const f of readdirSync(this.includeDir))
      if (f.startsWith(PREFIX) && f.endsWith('.conf'))
        current.set(f, readFileSync(path.join(this.includeDir, f), 'utf8'));
    const changed =
      [...wanted].some(([f, text]) => current.get(f) !== text) || [...current.keys()].some((f) => !wanted.has(f));
    if (!changed) return;
    for (const [f, text] of wanted) if (current.get(f) !== text) writeFileAtomic(path.join(this.includeDir, f), text);
    for (const f of current.keys()) if (!wanted.has(f)) rmSync(path.join(this.includeDir, f), { force: true });
    try {
      await this.#check(this.#testArgv(), 'nginx -t');
    } catch (err) {
      for (const f of wanted.keys()) if (!current.has(f)) rmSync(path.join(this.includeDir, f), { force: true });
      for (const [f, text] of current) writeFileSync(path.join(this.includeDir, f), text);
      throw err;
    }
    const master = this.#o.attach ? undefined : this.pid();
    const before = master ? children(master) : [];
    await this.#check(this.#reloadArgv(), 'reloading nginx');
    // `nginx -s reload` only signals the master. The new config serves once a new worker
    // runs and the old ones stopped accepting (their title says "shutting down", or they are gone).
    const oldAccepting = () =>
      before.some((pid) => (procStat(pid)?.state ?? 'Z') !== 'Z' && !procArgv(pid).join(' ').includes('shutting down'));
    for (
      let i = 0;
      master && i < 300 && (!children(master).some((pid) => !before.includes(pid)) || oldAccepting());
      i++
    )
      await new Promise((r) => setTimeout(r, 10));
  }

  async #check(argv: readonly string[], what: string): Promise<void> {
    const r = await runCommand(argv, { timeoutMs: 30_000 });
    if (r.code !== 0) {
      throw new BerthError(
        'failed',
        'nginx_failed',
        `${what} failed, so nothing was reloaded and the previous config stays: ${(r.stderr || r.stdout).trim()}`,
        {
          hint: `the rendered files are in ${this.includeDir}`,
        },
      );
    }
  }
}

function children(parent: number): number[] {
  return listPids().filter((pid) => procStat(pid)?.ppid === parent);
}
