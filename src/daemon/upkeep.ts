import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type pino from 'pino';
import { describe } from '../core/errors.js';
import type { InstanceManager } from '../engine/instance-manager.js';
import type { Proxy } from '../proxy/proxy.js';
import { removeTree } from '../system/safe-tree.js';

/** Uploads berthd was writing or replacing when it stopped: never deployed, never needed. */
export function sweepUploads(home: string): void {
  const root = path.join(home, 'uploads');
  removeTree(path.join(root, '.staging'));
  if (!existsSync(root)) return;
  for (const name of readdirSync(root)) if (/\.old-\d+-\d+$/.test(name)) removeTree(path.join(root, name));
}

/** Runs a task again after the delay it returns, or at once when poked (never two at a time). */
export class Timer {
  #task: (() => Promise<number>) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #again = false;

  run(task: () => Promise<number>): void {
    this.#task = task;
    this.poke();
  }

  poke(): void {
    if (!this.#task) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#running = true;
    void this.#task().then((next) => {
      this.#running = false;
      if (this.#again) {
        this.#again = false;
        this.poke();
      } else this.#timer = setTimeout(() => this.poke(), next).unref();
    });
  }
}

/**
 * berthd's periodic work once it serves: adopted processes polled for their exit (each second; a
 * wider look every tenth), the proxy watched (restarted when it died), and idle previews past their
 * `expire` removed when the next one is due (at least once a minute, and after every deployment).
 */
export function startUpkeep(o: {
  instances: InstanceManager;
  proxy: Proxy;
  log: pino.Logger;
  expiry: Timer;
  /** Removes expired environments; when to look again, in ms. */
  expire: () => Promise<number>;
}): void {
  let round = 0;
  setInterval(() => o.instances.pollAdopted(++round % 10 === 0), 1000).unref();
  setInterval(
    () => void o.proxy.watch().catch((err) => o.log.error({ err: describe(err) }, 'proxy watch failed')),
    1000,
  ).unref();
  o.expiry.run(() =>
    o.expire().catch((err) => (o.log.warn({ err: describe(err) }, 'expiring environments failed'), 60_000)),
  );
}
