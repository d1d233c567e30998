import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { ServicePoint } from './history.js';

/** One service's point in a sample line: app, env, service, then the point's values. */
type Entry = [string, string, string, number, number | null, number, number];

/** One sample interval: every service's point of it, as one line of a segment file. */
export interface SampleLine {
  readonly at: number;
  readonly seconds: number;
  readonly points: ReadonlyArray<{ app: string; env: string; service: string; point: ServicePoint }>;
}

const SEGMENT = /^(\d{1,16})\.ndjson$/;
/** A segment larger than this was not written by berthd (an hour of 1,000 services is ~15 MB): it is skipped. */
const MAX_SEGMENT_BYTES = 256 * 1024 * 1024;

/**
 * The metrics history on disk, so that a restart of berthd keeps the graphs' last hour. Segment files in one
 * directory (BERTH_HOME/metrics-history, 0700), each named by the time of its first sample (`<ms>.ndjson`), hold
 * one line per sample interval with every service's point of it: one append (one write) per interval however
 * many services run. A segment takes samples for half the window, then the next begins; one whose samples are
 * all older than the window is deleted, so the directory holds about an hour and a half (plus a segment per
 * restart within it). A berthd killed with -9 loses at most the line being written: a torn line is skipped when
 * read, and every start begins a new segment rather than appending to a torn one. Files are opened without
 * following links, and a link in place of the directory is refused.
 */
export class HistoryFile {
  #fh: FileHandle | undefined;
  #segmentStart = 0;
  #closed = false;
  readonly #segmentMs: number;

  constructor(
    readonly dir: string,
    readonly windowMs: number,
  ) {
    this.#segmentMs = Math.max(1, Math.floor(windowMs / 2));
  }

  /** The sample lines of the window before `now`, oldest first; older segments are deleted. */
  async load(now: number): Promise<SampleLine[]> {
    const lines: SampleLine[] = [];
    for (const { name, start } of await this.#segments()) {
      if (this.#expired(start, now)) {
        await unlink(path.join(this.dir, name)).catch(() => undefined);
        continue;
      }
      for (const text of (await this.#read(name)).split('\n')) {
        const line = parseLine(text);
        if (line && line.at > now - this.windowMs && line.at <= now) lines.push(line);
      }
    }
    return lines.sort((a, b) => a.at - b.at);
  }

  /** Appends one interval's line, starting a new segment (and deleting expired ones) when this one is full. */
  async append(line: SampleLine): Promise<void> {
    if (this.#closed) return; // a sample that was under way when berthd began to stop
    if (!this.#fh || line.at - this.#segmentStart >= this.#segmentMs) await this.#roll(line.at);
    await this.#fh!.write(JSON.stringify(encode(line)) + '\n');
  }

  /** Closes the segment; appends after it are dropped. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#release();
  }

  async #release(): Promise<void> {
    const fh = this.#fh;
    this.#fh = undefined;
    await fh?.close();
  }

  #expired(start: number, now: number): boolean {
    return start + this.#segmentMs <= now - this.windowMs;
  }

  async #roll(at: number): Promise<void> {
    await this.#release();
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (const { name, start } of await this.#segments())
      if (this.#expired(start, at)) await unlink(path.join(this.dir, name)).catch(() => undefined);
    const flags = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW;
    this.#fh = await open(path.join(this.dir, `${at}.ndjson`), flags, 0o600);
    this.#segmentStart = at;
  }

  async #segments(): Promise<Array<{ name: string; start: number }>> {
    const st = await lstat(this.dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    if (!st) return [];
    if (!st.isDirectory())
      throw new Error(`${this.dir} is not a directory (a link?): remove it, and berthd makes it again`);
    const names = await readdir(this.dir);
    return names
      .map((name) => ({ name, start: Number(SEGMENT.exec(name)?.[1] ?? NaN) }))
      .filter((s) => Number.isFinite(s.start))
      .sort((a, b) => a.start - b.start);
  }

  async #read(name: string): Promise<string> {
    const fh = await open(path.join(this.dir, name), constants.O_RDONLY | constants.O_NOFOLLOW).catch(() => undefined);
    if (!fh) return '';
    try {
      const st = await fh.stat();
      return st.isFile() && st.size <= MAX_SEGMENT_BYTES ? await fh.readFile('utf8') : '';
    } finally {
      await fh.close();
    }
  }
}

function encode(line: SampleLine): { at: number; s: number; p: Entry[] } {
  return {
    at: line.at,
    s: line.seconds,
    p: line.points.map(({ app, env, service, point: p }) => [
      app,
      env,
      service,
      p.reqPerSec,
      p.p95Ms,
      p.cpuPercent,
      p.rssBytes,
    ]),
  };
}

const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** A line as `encode` wrote it, or undefined (a torn last line, or anything else). */
export function parseLine(text: string): SampleLine | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  const r = raw as { at?: unknown; s?: unknown; p?: unknown };
  if (!num(r.at) || !num(r.s) || !Array.isArray(r.p)) return undefined;
  const points: Array<SampleLine['points'][number]> = [];
  for (const e of r.p as unknown[]) {
    if (!Array.isArray(e) || e.length !== 7) return undefined;
    const [app, env, service, reqPerSec, p95Ms, cpuPercent, rssBytes] = e as unknown[];
    if (typeof app !== 'string' || typeof env !== 'string' || typeof service !== 'string') return undefined;
    if (!num(reqPerSec) || !(p95Ms === null || num(p95Ms)) || !num(cpuPercent) || !num(rssBytes)) return undefined;
    points.push({ app, env, service, point: { at: r.at, seconds: r.s, reqPerSec, p95Ms, cpuPercent, rssBytes } });
  }
  return { at: r.at, seconds: r.s, points };
}
