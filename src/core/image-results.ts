/** What `berth images` and `berth images prune` answer (CLI, API and engine share these). */

/** A recorded release that runs an image, and why the release is kept. */
export interface ImageUse {
  readonly app: string;
  readonly env: string;
  readonly release: number;
  readonly service: string;
  /** The current release, the one before it (the default rollback), or one of the `releases_keep` newest. */
  readonly why: 'current' | 'previous' | 'releases_keep';
}

export interface ImageRow {
  /** The engine's id, sha256:... */
  readonly id: string;
  readonly tags: string[];
  /** Bytes, as the engine counts them (its layers shared with other images included). */
  readonly size: number;
  readonly createdAt: number;
  /** From its labels, for an image this BERTH_HOME built; null for another (a prebuilt `image:`). */
  readonly app: string | null;
  readonly env: string | null;
  readonly release: number | null;
  /** Labelled `berth.home` by this BERTH_HOME: the only images `berth images prune` may remove. */
  readonly ours: boolean;
  readonly usedBy: ImageUse[];
  /** A kept release uses it; an image of this home that is not kept is what prune removes. */
  kept: boolean;
}

export interface ImagesView {
  /** False when this host has no container engine (host setting container_engine): nothing to list. */
  readonly engine: boolean;
  readonly images: readonly ImageRow[];
  /** Images a kept release runs that the engine does not have (a rollback to it would fail). */
  readonly missing: readonly string[];
  /** This home's images no kept release uses: what `berth images prune` would remove. */
  readonly unused: { readonly count: number; readonly bytes: number };
}

export interface PruneResult {
  /** False when this host has no container engine: nothing was looked at. */
  readonly engine: boolean;
  /** Swarm services of app environments that no longer exist (their names). */
  readonly services: readonly string[];
  /** Images removed: a tag, or the id of an untagged one. */
  readonly images: readonly string[];
  /** Stopped containers of this home that no instance owns any more (their names). */
  readonly containers: readonly string[];
  /** Networks of app environments that no longer exist. */
  readonly networks: readonly string[];
  /** What stayed, and why (an image a container still uses, a deployment running). */
  readonly kept: readonly string[];
  /** The engine's disk use before and after (GET /system/df: image layers and containers' writable layers). */
  readonly freedBytes: number;
}

/** 1536 -> "1.5 KiB", 10737418240 -> "10.0 GiB". */
export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}
