import { BerthError, OUTSIDE } from '../core/errors.js';
import type { LeaseOwner } from '../store/leases-repo.js';
import type { Repos } from '../store/store.js';
import { isUniqueViolation } from '../store/open.js';
import { canListen, describeHolders, listeningPorts, portHolders } from '../system/sockets.js';

/** Where the allocator looks for ports other processes hold. Injected so tests can count calls, never faked. */
export interface PortProbe {
  /** Whether a new listener could bind the port now (no listener, no live connection holds it). */
  canListen(port: number): Promise<boolean>;
  listening(): Set<number>;
  holders(port: number): ReturnType<typeof portHolders>;
}

export const osPortProbe: PortProbe = { canListen, listening: listeningPorts, holders: portHolders };

/**
 * Leases ports. Must run inside a store write transaction so the check of the store,
 * the check of the OS and the insert are one step; the (host, port) primary key is the
 * last line of defence against a duplicate.
 */
export class PortAllocator {
  readonly #host: string;
  readonly #low: number;
  readonly #high: number;
  readonly #probe: PortProbe;

  constructor(host: string, range: { low: number; high: number }, probe: PortProbe = osPortProbe) {
    this.#host = host;
    this.#low = range.low;
    this.#high = range.high;
    this.#probe = probe;
  }

  get host(): string {
    return this.#host;
  }

  /** Leases the first free port of the range for `instanceId`. */
  async leaseAuto(repos: Repos, instanceId: number, now: number): Promise<number> {
    const port = await this.#firstFree(repos);
    await repos.leases.insert(this.#host, port, instanceId, now);
    return port;
  }

  /** The stable address port of `service` of a release (see engine/service-addresses.ts): its own, or the first free one. */
  async leaseAddress(repos: Repos, releaseId: number, service: string, now: number): Promise<number> {
    const had = (await repos.addresses.list({ releaseId })).find((a) => a.service === service);
    if (had) return had.port;
    const port = await this.#firstFree(repos);
    await repos.addresses.insert(releaseId, service, this.#host, port, now);
    return port;
  }

  /**
   * The first port of the range neither leased, nor a service address, nor in use on the host: tried by a listen of
   * its own, port by port, rather than by reading the kernel's whole socket table (see canListen).
   */
  async #firstFree(repos: Repos): Promise<number> {
    const leased = await repos.leases.portsInRange(this.#host, this.#low, this.#high);
    for (const p of await repos.addresses.portsInRange(this.#host, this.#low, this.#high)) leased.add(p);
    let foreign = 0;
    for (let port = this.#low; port <= this.#high; port++) {
      if (leased.has(port)) continue;
      if (await this.#probe.canListen(port)) return port;
      foreign++;
    }
    throw new BerthError(
      'unavailable',
      'port_range_full',
      `no free port in ${this.#low}-${this.#high}: ${leased.size} leased by Berth, ${foreign} in use by other processes`,
      {
        hint: 'widen port_range in config.yaml (or BERTH_PORT_RANGE), or remove apps you no longer need with `berth rm <app>`',
      },
    );
  }

  /** Leases exactly `port` for `instanceId` (of an app of organisation `orgId`), or explains who has it. */
  async leasePinned(repos: Repos, instanceId: number, port: number, now: number, orgId: number): Promise<void> {
    const owner = await repos.leases.owner(this.#host, port);
    if (owner && owner.instanceId === instanceId) return;
    if (owner) throw leasedConflict(`pinned port ${port}`, owner, orgId);
    const address = (await repos.addresses.list({ host: this.#host, port }))[0];
    if (address)
      throw pinnedConflict(`pinned port ${port}`, 'Berth gave it to a service address (API_URL and the like)');
    this.assertFree(port);
    try {
      await repos.leases.insert(this.#host, port, instanceId, now);
    } catch (err) {
      if (isUniqueViolation(err))
        throw pinnedConflict(`pinned port ${port}`, 'another deploy leased it at the same moment');
      throw err;
    }
  }

  /** True when some process listens on `port` now. */
  listening(port: number): boolean {
    return this.#probe.listening().has(port);
  }

  /** "port N is held by pid P (user U): command", for every process listening on `port`. */
  holders(port: number): string {
    return describeHolders(port, this.#probe.holders(port));
  }

  /** Throws when a process other than Berth's listens on `port`, naming pid, user and command to the host admin only. */
  assertFree(port: number): void {
    if (!this.#probe.listening().has(port)) return;
    throw pinnedConflict(`pinned port ${port}`, OUTSIDE, describeHolders(port, this.#probe.holders(port)));
  }
}

/** A port Berth leased to another service: named to its own organisation, to the host admin, to no one else. */
export function leasedConflict(what: string, owner: LeaseOwner, orgId: number | undefined): BerthError {
  const named = `Berth already leased it to ${owner.app}/${owner.env}/${owner.service}`;
  return owner.orgId === orgId ? pinnedConflict(what, named) : pinnedConflict(what, OUTSIDE, named);
}

function pinnedConflict(what: string, why: string, hostWhy?: string): BerthError {
  return new BerthError('conflict', 'port_taken', `cannot use ${what}: ${why}`, {
    hint: 'stop that process (or the service that owns the port), or use `port: auto`',
    ...(hostWhy !== undefined ? { hostDetail: `cannot use ${what}: ${hostWhy}` } : {}),
  });
}
