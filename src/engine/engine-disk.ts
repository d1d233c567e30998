import type { ContainerEngine } from '../runtime/container-engine.js';

/** The container engine's disk use (GET /system/df), in bytes. */
export interface EngineDisk {
  /** Image layers, each counted once however many images share it. */
  readonly images: number;
  /** Containers' writable layers. */
  readonly containers: number;
  readonly volumes: number;
  /** BuildKit's cache (the classic builder Berth uses keeps its cache as images). */
  readonly buildCache: number;
  readonly total: number;
}

interface SystemDf {
  LayersSize?: number;
  Containers?: { SizeRw?: number }[] | null;
  Volumes?: { UsageData?: { Size?: number } | null }[] | null;
  BuildCache?: { Size?: number; Shared?: boolean }[] | null;
}

/** What the engine uses on disk, by kind, as `docker system df` counts it. */
export async function engineDiskUse(engine: ContainerEngine): Promise<EngineDisk> {
  const df = await engine.call<SystemDf>('GET', '/system/df');
  const sum = (xs: readonly (number | undefined)[]) => xs.reduce<number>((n, x) => n + Math.max(0, x ?? 0), 0);
  const images = Math.max(0, df.LayersSize ?? 0);
  const containers = sum((df.Containers ?? []).map((c) => c.SizeRw));
  const volumes = sum((df.Volumes ?? []).map((v) => v.UsageData?.Size));
  const buildCache = sum((df.BuildCache ?? []).filter((b) => !b.Shared).map((b) => b.Size));
  return { images, containers, volumes, buildCache, total: images + containers + volumes + buildCache };
}
