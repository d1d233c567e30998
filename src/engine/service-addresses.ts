import type { Manifest, ServiceSpec } from '../config/manifest-types.js';
import type { GatewayNetwork } from '../proxy/builtin/gateway-listener.js';
import type { ListenerEntry } from '../proxy/route-table.js';
import type { InstanceView } from '../store/instances-repo.js';
import type { Store } from '../store/store.js';
import type { PortAllocator } from './port-allocator.js';

/**
 * Service discovery. A service another service of the same manifest `depends_on` gets one stable
 * address per release: a loopback port (leased like an instance's, in the store) on which the
 * builtin proxy spreads connections over that release's healthy instances. Its dependents of the
 * same release get it as <NAME>_URL, _HOST and _PORT (see launch-env.ts), so during a blue-green
 * deploy the new front end reaches the new API, and a replaced or restarted instance is followed
 * without restarting anyone. The address lives as long as instances of its release's service do.
 * A container cannot reach the host's 127.0.0.1: in an environment with a container network the
 * proxy listens on the same port at the network's gateway as well, for that network's peers only,
 * and a container's variables name the gateway (see proxy/builtin/gateway-listener.ts). So both
 * kinds reach both kinds the same way, by release, over healthy instances only.
 */

/** True when `spec` can have an address: it runs a process that listens on a port. */
export function addressable(spec: ServiceSpec): boolean {
  // A managed database is reached on its own port, which it keeps across releases (see databases/connection.ts).
  return spec.kind !== 'static' && spec.kind !== 'postgres' && spec.kind !== 'redis' && spec.port !== 'none';
}

/**
 * Leases the addresses of the services of `names` (one wave, just started and healthy) that another
 * service of the manifest depends on. Returns whether any is new, so the caller pushes the routes
 * (and the proxy listens) before the next wave, the dependents, starts.
 */
export async function leaseAddresses(
  store: Store,
  ports: PortAllocator,
  releaseId: number,
  manifest: Manifest,
  names: readonly string[],
): Promise<boolean> {
  const needed = manifest.services.filter(
    (s) => names.includes(s.name) && addressable(s) && manifest.services.some((d) => d.dependsOn.includes(s.name)),
  );
  if (needed.length === 0) return false;
  return store.write(async (r) => {
    const had = new Set((await r.addresses.list({ releaseId })).map((a) => a.service));
    for (const s of needed) await ports.leaseAddress(r, releaseId, s.name, Date.now());
    return needed.some((s) => !had.has(s.name));
  });
}

/** Drops the addresses of services that have no instance left (a retired release, an undone start). */
export async function dropUnusedAddresses(store: Store): Promise<boolean> {
  return (await store.write((r) => r.addresses.deleteUnused())) > 0;
}

/** The container network of an app environment, if it has one (the runner's ContainerNetworks.known). */
export type NetworkOf = (app: string, env: string) => GatewayNetwork | undefined;

/**
 * The proxy's listeners: every address with the healthy instances, wanted running, of its release's
 * service; with its environment's container network, if any, where the proxy listens on the gateway too.
 */
export async function listenersOf(
  store: Store,
  instances: readonly InstanceView[],
  networkOf?: NetworkOf,
): Promise<ListenerEntry[]> {
  const addresses = await store.addresses.list();
  return addresses.map((a) => {
    const n = networkOf?.(a.app, a.env);
    return {
      port: a.port,
      app: a.app,
      env: a.env,
      release: a.release,
      service: a.service,
      upstreams: instances
        .filter(
          (v) =>
            v.releaseId === a.releaseId &&
            v.service === a.service &&
            v.state === 'healthy' &&
            v.desired === 'running' &&
            v.port !== null,
        )
        .map((v) => `127.0.0.1:${v.port}`),
      ...(n ? { network: { gateway: n.gateway, subnet: n.subnet } } : {}),
    };
  });
}

/** Whether an instance's health matters to a service address (its release's service has one). */
export async function hasAddress(store: Store, v: Pick<InstanceView, 'releaseId' | 'service'>): Promise<boolean> {
  return store.addresses.has(v.releaseId, v.service);
}
