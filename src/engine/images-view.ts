import type { ServiceSpec } from '../config/manifest-types.js';
import { storedManifest } from '../config/stored-manifest.js';
import type { ImageRow, ImageUse, ImagesView } from '../core/image-results.js';
import { EngineError, type ContainerEngine } from '../runtime/container-engine.js';
import type { Store } from '../store/store.js';
import { compareText } from '../core/names.js';

/** One image as the engine lists it (GET /images/json). */
export interface EngineImage {
  readonly Id: string;
  readonly RepoTags: string[] | null;
  readonly Size: number;
  readonly Created: number;
  readonly Labels: Record<string, string> | null;
}

/** A label filter for the engine's list endpoints: `?filters=...`. */
export function labelFilter(labels: readonly string[], more: Record<string, string[]> = {}): string {
  return `filters=${encodeURIComponent(JSON.stringify({ label: labels, ...more }))}`;
}

/**
 * The one label of the images Berth builds, `berth.image=<home>/<app>/<env>/<release>/<service>`:
 * whose image it is. One label, not five: the classic builder adds each label as a step of its own
 * (a container made and committed), which costs about a second each on a loaded host.
 */
export const IMAGE_LABEL = 'berth.image';

export interface ImageOwner {
  readonly home: string;
  readonly app: string;
  readonly env: string;
  readonly release: number;
  readonly service: string;
}

export function imageLabel(o: ImageOwner): string {
  return `${o.home}/${o.app}/${o.env}/${o.release}/${o.service}`;
}

/** Whose image it is, from its label berth.image; undefined for an image Berth did not build. */
export function imageOwner(i: Pick<EngineImage, 'Labels'>): ImageOwner | undefined {
  const parts = i.Labels?.[IMAGE_LABEL]?.split('/');
  if (parts?.length !== 5) return undefined;
  const [home, app, env, release, service] = parts as [string, string, string, string, string];
  return { home, app, env, release: Number(release), service };
}

/** The top-level images (not the classic builder's intermediate steps) one BERTH_HOME built, of one app or environment. */
export async function homeImages(
  engine: ContainerEngine,
  home: string,
  app?: string,
  env?: string,
): Promise<(EngineImage & { owner: ImageOwner })[]> {
  const list = await engine.call<EngineImage[]>('GET', `/images/json?${labelFilter([IMAGE_LABEL])}`);
  return list.flatMap((i) => {
    const owner = imageOwner(i);
    if (owner?.home !== home || (app !== undefined && owner.app !== app) || (env !== undefined && owner.env !== env))
      return [];
    return [{ ...i, owner }];
  });
}

/** The labels that say a container or network on the engine is this BERTH_HOME's (and of which app and environment). */
export function homeLabels(home: string, app?: string, env?: string): string[] {
  return [
    `berth.home=${home}`,
    ...(app !== undefined ? [`berth.app=${app}`] : []),
    ...(env !== undefined ? [`berth.env=${env}`] : []),
  ];
}

/** The tags an image really has (the engine says `<none>:<none>` for none). */
export function tagsOf(i: Pick<EngineImage, 'RepoTags'>): string[] {
  return (i.RepoTags ?? []).filter((t) => t !== '<none>:<none>');
}

/** What a container service of a release runs: the image id it was built as, else its reference. */
function imageRef(s: ServiceSpec): string | undefined {
  return s.container?.imageId ?? s.container?.image ?? undefined;
}

/**
 * Which image each recorded release runs, and why it is kept: the current release, the one
 * before it (the default rollback), or one of the `releases_keep` newest. A release Berth still
 * records is kept; the deploy's prune removes the others with their images.
 */
export async function imageUses(store: Store, app?: string): Promise<Map<string, ImageUse[]>> {
  const uses = new Map<string, ImageUse[]>();
  for (const e of await store.apps.environments(app === undefined ? {} : { app })) {
    const releases = await store.releases.list(e.id); // newest first
    const at = releases.findIndex((r) => r.id === e.currentReleaseId);
    releases.forEach((r, i) => {
      const why = i === at ? 'current' : at >= 0 && i === at + 1 ? 'previous' : 'releases_keep';
      for (const s of storedManifest(r.manifest).services) {
        const ref = imageRef(s);
        if (ref === undefined) continue;
        const use: ImageUse = { app: e.app, env: e.name, release: r.number, service: s.name, why };
        uses.set(ref, [...(uses.get(ref) ?? []), use]);
      }
    });
  }
  return uses;
}

/**
 * `berth images`: this BERTH_HOME's images on the engine (labelled `berth.image`) and every image a
 * recorded release runs (a prebuilt `image:` too), each with its tags, size, the releases that
 * use it and whether it is kept. An image of this home no release uses is what `berth images prune` removes.
 */
export async function listImages(o: { store: Store; engine: ContainerEngine | undefined; home: string; app?: string }) {
  const engine = o.engine;
  if (!engine) return { engine: false, images: [], missing: [], unused: { count: 0, bytes: 0 } } satisfies ImagesView;
  const ours = await homeImages(engine, o.home, o.app);
  const uses = await imageUses(o.store, o.app);
  const rows = new Map<string, ImageRow>();
  const add = (i: EngineImage, owner: ImageOwner | undefined): ImageRow => {
    const row: ImageRow = {
      id: i.Id,
      tags: tagsOf(i),
      size: i.Size,
      createdAt: i.Created * 1000,
      app: owner?.app ?? null,
      env: owner?.env ?? null,
      release: owner?.release ?? null,
      ours: owner !== undefined,
      usedBy: [],
      kept: false,
    };
    rows.set(i.Id, row);
    return row;
  };
  for (const i of ours) add(i, i.owner);
  const missing: string[] = [];
  for (const [ref, use] of uses) {
    let row = rows.get(ref) ?? [...rows.values()].find((r) => r.tags.includes(ref));
    if (!row) {
      const found = await engine.call<EngineImage>('GET', `/images/${encodeURIComponent(ref)}/json`).catch((err) => {
        if (err instanceof EngineError && err.status === 404) return undefined;
        throw err;
      });
      if (!found) {
        missing.push(ref);
        continue;
      }
      // Inspected (not listed): its date is a string, and it is not this home's (those were all listed).
      row =
        rows.get(found.Id) ??
        add({ ...found, Labels: null, Created: Date.parse(String(found.Created)) / 1000 || 0 }, undefined);
    }
    row.usedBy.push(...use);
    row.kept = true;
  }
  const images = [...rows.values()].sort(
    // Images of no app first (as localeCompare ordered the '~' that stood for it), then by app, newest release first.
    (a, b) => compareText(a.app ?? '', b.app ?? '') || (b.release ?? 0) - (a.release ?? 0),
  );
  const unused = images.filter((i) => i.ours && !i.kept);
  return {
    engine: true,
    images,
    missing,
    unused: { count: unused.length, bytes: unused.reduce((n, i) => n + i.size, 0) },
  } satisfies ImagesView;
}
