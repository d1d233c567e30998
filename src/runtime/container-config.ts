import type { ServiceSpec } from '../config/manifest-types.js';

/** Which instance a container is: its labels, and its name. */
export interface ContainerIdentity {
  readonly app: string;
  readonly env: string;
  readonly service: string;
  readonly release: number;
  /** The instance's id in the store. */
  readonly instance: number;
  /** The instance marker (`<home>:<id>`): label `berth.instance`, how a restarted berthd finds it. */
  readonly marker: string;
}

/**
 * The engine's create request for one instance (POST /containers/create): no IO here, so what a
 * container may do is read in one place. Never privileged, no capability added, no device, no host
 * namespace, `no-new-privileges`; its only mounts are its declared volumes (directories of its
 * environment's $DATA_DIR); published on 127.0.0.1 only; on its app environment's own network,
 * where its service name is an alias; as the image's USER unless `user:` says; restart policy "no" (Berth restarts it by its own policy);
 * the engine's copy of its output capped (Berth's log file is the one that counts).
 */
export function containerConfig(o: {
  who: ContainerIdentity;
  home: string;
  spec: ServiceSpec;
  network: string;
  env: Readonly<Record<string, string>>;
  mounts: readonly { readonly source: string; readonly target: string }[];
  hostPort: number | null;
}): Record<string, unknown> {
  const c = o.spec.container;
  if (!c) throw new Error(`service ${o.spec.name} is not a container`);
  const exposed = c.port !== null ? `${c.port}/tcp` : undefined;
  const r = o.spec.resources;
  return {
    Image: c.imageId ?? c.image,
    ...(o.spec.argv.length > 0 ? { Cmd: o.spec.argv } : {}),
    ...(c.entrypoint !== null ? { Entrypoint: c.entrypoint } : {}),
    ...(c.user ? { User: c.user } : {}),
    Env: Object.entries(o.env).map(([k, v]) => `${k}=${v}`),
    Labels: containerLabels(o.home, o.who),
    ...(exposed ? { ExposedPorts: { [exposed]: {} } } : {}),
    HostConfig: {
      ...(exposed && o.hostPort !== null
        ? { PortBindings: { [exposed]: [{ HostIp: '127.0.0.1', HostPort: String(o.hostPort) }] } }
        : {}),
      NetworkMode: o.network,
      RestartPolicy: { Name: 'no' },
      Privileged: false,
      SecurityOpt: ['no-new-privileges'],
      Mounts: o.mounts.map((m) => ({ Type: 'bind', Source: m.source, Target: m.target, ReadOnly: false })),
      LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '2' } },
      ...(r?.memoryBytes !== undefined ? { Memory: r.memoryBytes, MemorySwap: r.memoryBytes } : {}),
      ...(r?.cpu !== undefined ? { NanoCpus: Math.round(r.cpu * 1e9) } : {}),
      ...(r?.pids !== undefined ? { PidsLimit: r.pids } : {}),
    },
    NetworkingConfig: { EndpointsConfig: { [o.network]: { Aliases: [o.who.service] } } },
  };
}

/** The labels of an instance's container: how `berth.home`'s berthd finds it again (`berth.instance`, its marker). */
export function containerLabels(home: string, who: ContainerIdentity): Record<string, string> {
  return {
    'berth.home': home,
    'berth.app': who.app,
    'berth.env': who.env,
    'berth.service': who.service,
    'berth.release': String(who.release),
    'berth.instance': who.marker,
  };
}
