import type { ServiceSpec } from '../config/manifest-types.js';
import { BerthError, OUTSIDE } from '../core/errors.js';
import { holdsProcess } from '../core/instance-state.js';
import type { Proxy } from '../proxy/proxy.js';
import type { InstanceView } from '../store/instances-repo.js';
import type { Store } from '../store/store.js';
import type { InstanceManager } from './instance-manager.js';
import type { PortAllocator } from './port-allocator.js';

/** What starting and replacing instances outside a deployment needs. */
export interface SwapDeps {
  readonly store: Store;
  readonly instances: InstanceManager;
  readonly ports: PortAllocator;
  readonly proxy: Pick<Proxy, 'inflight'>;
  /** Resolves when the proxy routes to what the store says. */
  readonly routesChanged: () => Promise<void>;
}

/**
 * Before an instance that holds no process starts again: its leased port may have been taken
 * meanwhile. A `port: auto` service takes a new lease; a pinned port is refused, naming the holder.
 */
export async function checkPortBeforeStart(d: SwapDeps, v: InstanceView): Promise<void> {
  if (v.port === null || holdsProcess(v.state) || !d.ports.listening(v.port)) return;
  const spec = JSON.parse(v.spec) as ServiceSpec;
  if (spec.port !== 'auto') {
    const what = `cannot start ${v.app}/${v.service}[${v.idx}]: its pinned port ${v.port} is`;
    throw new BerthError('conflict', 'port_taken', `${what} ${OUTSIDE}`, {
      hint: `stop that process, or give services.${v.service} \`port: auto\` in berth.yaml and deploy`,
      hostDetail: `cannot start ${v.app}/${v.service}[${v.idx}]: its pinned ${d.ports.holders(v.port)}`, // pid and command: the host admin's only
    });
  }
  await d.store.write(async (r) => {
    await r.leases.releaseInstance(v.id);
    await r.instances.update(v.id, { port: await d.ports.leaseAuto(r, v.id, Date.now()) });
  });
}

/** True for instances `berth restart` replaces without a gap: routed, blue-green, on a port of their own. */
export function swappable(v: InstanceView): boolean {
  const spec = JSON.parse(v.spec) as ServiceSpec;
  return spec.strategy === 'blue-green' && spec.port === 'auto' && spec.routes.length > 0 && holdsProcess(v.state);
}

/**
 * Restarts an instance the way a deploy replaces one: a new instance (same index, new port)
 * starts and becomes healthy, the proxy switches to it, the old one drains and stops. If the
 * new one does not become healthy it is removed and the old one serves on.
 */
export async function swapInstance(d: SwapDeps, v: InstanceView): Promise<void> {
  const spec = JSON.parse(v.spec) as ServiceSpec;
  // The old instance steps aside (a negative index) so its successor takes its index, and so its log.
  const id = await d.store.write(async (r) => {
    await r.instances.renumber(v.id, -1 - v.idx);
    const id = await r.instances.create(
      {
        environmentId: v.environmentId,
        releaseId: v.releaseId,
        service: v.service,
        idx: v.idx,
        spec: v.spec,
        rootDir: v.rootDir,
      },
      Date.now(),
    );
    await r.instances.update(id, { port: await d.ports.leaseAuto(r, id, Date.now()) });
    return id;
  });
  try {
    await d.instances.start(id);
    await d.instances.waitReady(id, spec.health.startTimeoutMs + 1000);
  } catch (err) {
    await d.instances.remove(id);
    await d.store.write((r) => r.instances.renumber(v.id, v.idx));
    throw err;
  }
  // The switch: an instance not wanted running leaves the route table (see route-sync) before it stops.
  await d.store.instances.update(v.id, { desired: 'stopped' });
  await d.routesChanged();
  if (v.port !== null) await drained(d.proxy, [`127.0.0.1:${v.port}`], spec.drainMs);
  await d.instances.remove(v.id);
}

/** Waits until the proxy has no request in flight to `upstreams`, up to `limitMs`. */
export async function drained(proxy: Pick<Proxy, 'inflight'>, upstreams: readonly string[], limitMs: number) {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    if ((await proxy.inflight(upstreams).catch(() => 0)) === 0) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/**
 * At boot: an instance left with a negative index by a restart berthd did not finish. If its
 * successor exists, it goes (the successor is adopted or restarted like any instance); else it
 * takes its index back.
 */
export async function finishSwaps(d: Pick<SwapDeps, 'store' | 'instances'>): Promise<void> {
  const all = await d.store.instances.list();
  for (const v of all.filter((x) => x.idx < 0)) {
    const idx = -1 - v.idx;
    const successor = all.find((x) => x.releaseId === v.releaseId && x.service === v.service && x.idx === idx);
    if (successor) await d.instances.remove(v.id);
    else await d.store.write((r) => r.instances.renumber(v.id, idx));
  }
}
