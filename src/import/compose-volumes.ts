import path from 'node:path';
import type { ServiceContext, ServiceOut } from './import-context.js';
import { berthName } from './import-names.js';
import { at, isMapping, scalarText, type Warnings } from './import-warnings.js';

/** Compose volume names already given a Berth name, shared by every service of one import. */
export type VolumeNames = Map<string, string>;

interface Mount {
  readonly type: string;
  readonly source?: string;
  readonly target?: string;
  readonly readOnly: boolean;
}

/**
 * `volumes:` of a service to `volumes: { /path/in/container: name }`: a named volume becomes a
 * directory under the environment's $DATA_DIR (a name several services use is the same
 * directory). Berth never mounts a host path, so bind mounts (and tmpfs) are reported, not mapped.
 */
export function mapVolumes(
  svc: Record<string, unknown>,
  ctx: ServiceContext,
  out: ServiceOut,
  names: VolumeNames,
): void {
  if (svc.volumes === undefined) return;
  const p = at(ctx.path, 'volumes');
  if (!Array.isArray(svc.volumes)) return ctx.warn.notMapped(p, 'expected a list');
  const volumes: Record<string, string> = {};
  svc.volumes.forEach((item, i) => {
    const ip = at(p, i);
    const m = parseMount(item);
    if (m === undefined || m.target === undefined || !path.posix.isAbsolute(m.target))
      return ctx.warn.notMapped(ip, 'expected source:/absolute/target or { type, source, target }');
    if (m.type === 'bind')
      return ctx.warn.notMapped(
        ip,
        `a bind mount of ${m.source ?? 'a host path'}: Berth never mounts host paths into a container; put the files in the image, or the data in a named volume (under $DATA_DIR)`,
      );
    if (m.type !== 'volume') return ctx.warn.notMapped(ip, `a ${m.type} mount: Berth mounts named volumes only`);
    const anonymous = m.source === undefined;
    const name = volumeName(m.source ?? `${ctx.name}-${m.target}`, ip, anonymous ? undefined : ctx.warn, names);
    if (anonymous) ctx.warn.add(ip, `an anonymous volume: it became the named volume ${name}, kept under $DATA_DIR`);
    volumes[m.target] = name;
    if (m.readOnly) ctx.warn.notMapped(ip, 'read-only: Berth mounts volumes read-write');
  });
  if (Object.keys(volumes).length > 0) out.volumes = volumes;
}

/** The Berth name of compose volume `source`, proposed (once, with a warning) when it is not a valid name. */
function volumeName(source: string, p: string, warn: Warnings | undefined, names: VolumeNames): string {
  const known = names.get(source);
  if (known !== undefined) return known;
  const taken = new Set(names.values());
  const { name, problem } = berthName(source, taken, 'data');
  if (problem !== undefined)
    warn?.add(p, `volume name ${JSON.stringify(source)} ${problem}: it is ${JSON.stringify(name)} here (a DNS label)`);
  names.set(source, name);
  return name;
}

function parseMount(item: unknown): Mount | undefined {
  if (isMapping(item)) {
    const type = scalarText(item.type) ?? 'volume';
    const source = scalarText(item.source);
    const target = scalarText(item.target);
    return { type, readOnly: item.read_only === true, ...(source ? { source } : {}), ...(target ? { target } : {}) };
  }
  const text = scalarText(item);
  if (text === undefined) return undefined;
  const parts = text.split(':');
  if (parts.length === 1) return { type: 'volume', target: text, readOnly: false };
  const [source = '', target, mode = ''] = parts;
  const bind = /^[./~]/.test(source);
  return {
    type: bind ? 'bind' : 'volume',
    source,
    readOnly: mode.split(',').includes('ro'),
    ...(target ? { target } : {}),
  };
}
