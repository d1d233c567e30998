import type { Command } from 'commander';
import { humanBytes, type ImageRow, type ImagesView, type PruneResult } from '../core/image-results.js';
import { table } from './render.js';
import type { Io } from './secret-commands.js';

const NO_ENGINE = 'this host has no container engine (host setting container_engine): no images';

/** Why an image stays: the releases that run it, or "no" (prune removes it when it is this home's). */
function keptBy(i: ImageRow): string {
  if (i.usedBy.length === 0) return i.ours ? 'no: prune removes it' : 'no';
  return i.usedBy.map((u) => `${u.why} (${u.app}/${u.env} release ${u.release})`).join(', ');
}

export function renderImages(v: ImagesView): string {
  if (!v.engine) return NO_ENGINE;
  const rows = v.images.map((i) => [
    i.app ?? i.usedBy[0]?.app ?? '-',
    i.env ?? i.usedBy[0]?.env ?? '-',
    i.release !== null ? String(i.release) : '-',
    i.tags.join(',') || '<untagged>',
    i.id.replace(/^sha256:/, '').slice(0, 12),
    humanBytes(i.size),
    keptBy(i),
  ]);
  const ours = v.images.filter((i) => i.ours);
  const lines = [
    table(['APP', 'ENV', 'RELEASE', 'TAG', 'IMAGE', 'SIZE', 'KEPT'], rows),
    '',
    `${ours.length} image(s) of this BERTH_HOME; ${v.unused.count} no kept release uses (${humanBytes(v.unused.bytes)})${v.unused.count > 0 ? ': `berth images prune` removes them' : ''}`,
  ];
  for (const m of v.missing) lines.push(`missing on the engine: ${m} (a kept release runs it; a rollback to it fails)`);
  return lines.join('\n');
}

export function renderPrune(r: PruneResult): string {
  if (!r.engine) return NO_ENGINE;
  const lines = [
    ...r.services.map((s) => `removed Swarm service ${s}`),
    ...r.images.map((i) => `removed image ${i}`),
    ...r.containers.map((c) => `removed stopped container ${c}`),
    ...r.networks.map((n) => `removed network ${n}`),
    ...r.kept.map((k) => `left ${k}`),
  ];
  const count = r.services.length + r.images.length + r.containers.length + r.networks.length;
  lines.push(count === 0 ? 'nothing to remove' : `${count} removed; disk freed: ${humanBytes(r.freedBytes)}`);
  return lines.join('\n');
}

/** `berth images [app]` and `berth images prune [app]`. */
export function registerImageCommands(program: Command, io: Io): void {
  const images = program
    .command('images')
    .description("this BERTH_HOME's container images: tag, id, size, the release that uses each and why it is kept")
    .argument('[app]')
    .option('--json', 'print JSON')
    .action(async (app?: string) => {
      const v = await io.call<ImagesView>('GET', app ? `/v1/apps/${encodeURIComponent(app)}/images` : '/v1/images');
      io.print(v, () => renderImages(v));
    });
  images
    .command('prune')
    .description(
      "remove this BERTH_HOME's images no kept release uses, its stopped containers and the networks of removed environments",
    )
    .argument('[app]')
    .option('--json', 'print JSON')
    .action(async (app?: string) => {
      const r = await io.call<PruneResult>(
        'POST',
        app ? `/v1/apps/${encodeURIComponent(app)}/images/prune` : '/v1/images/prune',
        {},
      );
      io.print(r, () => renderPrune(r));
    });
}
