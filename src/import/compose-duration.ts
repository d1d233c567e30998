import { MAX_TIMER_MS } from '../config/duration.js';

const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;
const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** A compose duration ("1m30s", "500ms", "10s": Go's syntax) in milliseconds; undefined when it is not one. */
export function composeDurationMs(value: unknown): number | undefined {
  if (typeof value === 'number') return value >= 0 ? value * 1000 : undefined; // compose reads a bare number as seconds
  if (typeof value !== 'string' || value === '') return undefined;
  PART.lastIndex = 0;
  let ms = 0;
  while (PART.lastIndex < value.length) {
    const m = PART.exec(value);
    if (!m) return undefined;
    ms += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  }
  return Math.round(ms);
}

/** Milliseconds as a berth.yaml duration: "90s" when whole seconds, else "1500ms". Undefined past a timer's reach. */
export function berthDuration(ms: number): string | undefined {
  if (ms > MAX_TIMER_MS) return undefined;
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
