import type { Manifest, ServiceSpec } from '../config/manifest-types.js';
import { BerthError } from '../core/errors.js';
import type { Repos, Store } from '../store/store.js';
import type { PortAllocator } from './port-allocator.js';

/** What registering a manifest changed in the store, for the caller to act on. */
export interface Registration {
  readonly created: boolean;
  readonly added: string[];
  readonly changed: string[];
  readonly removedServices: string[];
  readonly removedServiceIds: number[];
  /** Instances that no longer belong (removed services, fewer instances): stop and delete them. */
  readonly removedInstances: number[];
}

interface Input {
  readonly store: Store;
  readonly ports: PortAllocator;
  readonly manifest: Manifest;
  readonly sourceDir: string;
  readonly manifestFile: string;
  readonly env: string;
}

/**
 * Writes the app, its environment, services, instances and port leases in one
 * transaction. A pinned port held by another process, or a full port range, fails here,
 * before anything starts, and leaves the store as it was.
 */
export async function registerApp(input: Input): Promise<Registration> {
  const { store, ports, manifest } = input;
  const existing = await store.apps.find(manifest.app);
  if (existing && existing.sourceDir !== input.sourceDir) {
    throw new BerthError('conflict', 'app_exists', `app "${manifest.app}" is already registered from ${existing.sourceDir}`, {
      hint: `give this app another name in berth.yaml, or remove the other one first: berth rm ${manifest.app}`,
    });
  }
  for (const spec of manifest.services) {
    if (typeof spec.port !== 'number') continue;
    const owner = await store.leases.owner(ports.host, spec.port);
    const ours = owner && owner.app === manifest.app && owner.env === input.env && owner.service === spec.name;
    if (owner && !ours) throw new BerthError('conflict', 'port_taken', `cannot use pinned port ${spec.port} for service "${spec.name}": Berth already leased it to ${owner.app}/${owner.env}/${owner.service}`, { hint: 'pick another port, or `port: auto`' });
    if (!owner) ports.assertFree(spec.port);
  }
  return store.write((r) => writeRegistration(r, input, existing === undefined));
}

async function writeRegistration(r: Repos, input: Input, created: boolean): Promise<Registration> {
  const now = Date.now();
  const appId = await r.apps.upsert(input.manifest.app, input.sourceDir, input.manifestFile, now);
  const envId = await r.apps.environmentId(appId, input.env, now);
  const before = new Map((await r.apps.services(envId)).map((s) => [s.name, s]));
  const reg: Registration = { created, added: [], changed: [], removedServices: [], removedServiceIds: [], removedInstances: [] };
  for (const [position, spec] of input.manifest.services.entries()) {
    const prev = before.get(spec.name);
    const json = JSON.stringify(spec);
    if (!prev) reg.added.push(spec.name);
    else if (prev.spec !== json) reg.changed.push(spec.name);
    const serviceId = await r.apps.upsertService(envId, spec.name, json, position);
    const prevPort = prev ? (JSON.parse(prev.spec) as ServiceSpec).port : undefined;
    await syncInstances(r, input.ports, serviceId, spec, prevPort !== undefined && prevPort !== spec.port, reg, now);
    before.delete(spec.name);
  }
  for (const gone of before.values()) {
    reg.removedServices.push(gone.name);
    reg.removedServiceIds.push(gone.id);
    for (const i of await r.instances.ofService(gone.id)) reg.removedInstances.push(i.id);
  }
  return reg;
}

async function syncInstances(r: Repos, ports: PortAllocator, serviceId: number, spec: ServiceSpec, portChanged: boolean, reg: Registration, now: number): Promise<void> {
  const current = await r.instances.ofService(serviceId);
  for (let idx = 0; idx < spec.instances; idx++) {
    const found = current.find((i) => i.idx === idx);
    if (found && !portChanged) continue;
    const id = found ? found.id : await r.instances.create(serviceId, idx, now);
    if (found) await r.leases.releaseInstance(id);
    const port = spec.port === 'none' ? null : spec.port === 'auto' ? await ports.leaseAuto(r, id, now) : (await ports.leasePinned(r, id, spec.port, now), spec.port);
    await r.instances.update(id, { port });
  }
  for (const extra of current.filter((i) => i.idx >= spec.instances)) reg.removedInstances.push(extra.id);
}
