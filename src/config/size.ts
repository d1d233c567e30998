/** Sizes in the manifest: a number of bytes, or a string like "512M" or "2G" (binary multiples, as Docker and systemd read them). */
const UNITS: Record<string, number> = { '': 1, b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** "512M", "512m", "512MiB", "512MB" (all 512 x 2^20 bytes), "1.5G", "4096". */
export const SIZE_PATTERN = /^(\d+(?:\.\d+)?)\s*(?:([KMGTkmgt])(?:i?[Bb])?|[Bb])?$/;

/** Bytes (a whole number), or undefined when `value` is not a size. */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.floor(value) : undefined;
  if (typeof value !== 'string') return undefined;
  const m = SIZE_PATTERN.exec(value.trim());
  if (!m) return undefined;
  return Math.floor(Number(m[1]) * (UNITS[(m[2] ?? '').toLowerCase()] as number));
}

/** 536870912 -> "512M"; 1610612736 -> "1.5G"; 1000 -> "1000B". */
export function formatSize(bytes: number): string {
  for (const [unit, n] of [
    ['T', 2 ** 40],
    ['G', 2 ** 30],
    ['M', 2 ** 20],
    ['K', 2 ** 10],
  ] as const)
    if (bytes >= n && (bytes * 100) % n === 0) return `${bytes / n}${unit}`;
  return `${bytes}B`;
}
