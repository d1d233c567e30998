import type { Logger } from 'pino';
import { describe } from '../core/errors.js';
import { nodeAddress } from '../doctor/swarm-facts.js';
import type { SwarmClient } from '../runtime/swarm-client.js';
import type { SwarmServices } from '../runtime/swarm-services.js';

/** How often the tasks are read again: a task that stops serving leaves the routes within this (plus a push). */
const REFRESH_MS = 250;

const keyOf = (app: string, env: string, release: number, service: string) => `${app}/${env}/${release}/${service}`;

/**
 * The healthy tasks of this home's Swarm services, as the edge's upstreams: each running task (which with a
 * health check means healthy: Swarm keeps a task `starting` until its check passes) at its node's address and
 * the port its engine published. Read again every REFRESH_MS, a bounded refresh: when tasks move (a node
 * drained, a task restarted or failed) the set changes and `changed` pushes the routes. Swarm marks a task
 * it is about to stop `desired: shutdown` first, so it leaves the set before its container is told to stop;
 * an app that keeps serving for a moment after SIGTERM (as behind any load balancer) loses no request.
 */
export class SwarmEndpoints {
  readonly #services: SwarmServices;
  readonly #swarm: SwarmClient;
  readonly #home: string;
  readonly #log: Logger;
  readonly #changed: () => void;
  #table = new Map<string, string[]>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #failing = false;

  constructor(o: { services: SwarmServices; swarm: SwarmClient; home: string; log: Logger; changed: () => void }) {
    this.#services = o.services;
    this.#swarm = o.swarm;
    this.#home = o.home;
    this.#log = o.log;
    this.#changed = o.changed;
  }

  /** The healthy upstreams of a service's release, as last read; undefined when the swarm runs none of it. */
  upstreams(app: string, env: string, release: number, service: string): string[] | undefined {
    return this.#table.get(keyOf(app, env, release, service));
  }

  start(): void {
    const tick = async () => {
      await this.refresh();
      if (!this.#stopped) this.#timer = setTimeout(() => void tick(), REFRESH_MS).unref();
    };
    void tick();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /** Reads the tasks now; pushes the routes when the healthy set changed. Returns whether it did. */
  async refresh(): Promise<boolean> {
    let next: Map<string, string[]>;
    try {
      next = await this.#read();
      if (this.#failing) this.#log.info('the swarm answers again: its task endpoints are read');
      this.#failing = false;
    } catch (err) {
      if (!this.#failing) this.#log.warn({ err: describe(err) }, "reading the swarm's tasks failed: routes kept");
      this.#failing = true;
      return false;
    }
    if (same(next, this.#table)) return false;
    this.#table = next;
    this.#changed();
    return true;
  }

  async #read(): Promise<Map<string, string[]>> {
    const services = await this.#services.list({ 'berth.home': this.#home });
    const out = new Map<string, string[]>();
    if (services.length === 0) return out;
    const nodes = new Map((await this.#swarm.nodes()).map((n) => [n.ID, nodeAddress(n)]));
    await Promise.all(
      services.map(async (s) => {
        const l = s.Spec.Labels;
        const release = Number(l['berth.release']);
        if (!l['berth.app'] || !l['berth.env'] || !l['berth.service'] || !Number.isInteger(release)) return;
        const ends = await this.#services.endpoints(s.ID, nodes);
        out.set(
          keyOf(l['berth.app'], l['berth.env'], release, l['berth.service']),
          ends.map((e) => `${e.address}:${e.port}`).sort(),
        );
      }),
    );
    return out;
  }
}

function same(a: ReadonlyMap<string, string[]>, b: ReadonlyMap<string, string[]>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k)?.join(',') !== v.join(',')) return false;
  return true;
}
