import type { Readable } from 'node:stream';
import { demux } from './container-logs.js';
import type { ContainerEngine } from './container-engine.js';

/** One line a Swarm task wrote, with the task and the node it ran on (ids, as the engine gives them). */
export interface SwarmLogLine {
  readonly task: string;
  readonly node: string;
  readonly line: string;
}

export interface SwarmLogOptions {
  /** The last lines of each task (`tail`); absent: all the engine keeps. */
  readonly tail?: number;
  /** Keep the stream open: lines the tasks write later, also tasks Swarm starts later. */
  readonly follow?: boolean;
}

/** A stream being read: `done` settles when it ends (or the engine goes), `stop` ends it early. */
export interface SwarmLogStream {
  readonly done: Promise<void>;
  stop(): void;
}

const TASK = 'com.docker.swarm.task.id';
const NODE = 'com.docker.swarm.node.id';

/**
 * A Swarm service's output through its manager (GET /services/{id}/logs, as `docker service logs`): the engine's
 * multiplexed frames (demux, as a container's log), one message each, asked with `details` so each starts with
 * its context (`com.docker.swarm.node.id=...,com.docker.swarm.task.id=... `), which names the task and node of
 * the line. Rejects when the engine refuses the request (no such service, not a manager).
 */
export async function swarmServiceLogs(
  engine: ContainerEngine,
  service: string,
  o: SwarmLogOptions,
  onLine: (l: SwarmLogLine) => void,
): Promise<SwarmLogStream> {
  const q = new URLSearchParams({
    stdout: '1',
    stderr: '1',
    details: '1',
    follow: o.follow ? '1' : '0',
    tail: o.tail === undefined ? 'all' : String(o.tail),
  });
  const body: Readable = await engine.stream('GET', `/services/${encodeURIComponent(service)}/logs?${q.toString()}`);
  const done = demux(body, (frame) => {
    const l = parseFrame(frame.toString('utf8'));
    if (l) for (const line of l.lines) onLine({ task: l.task, node: l.node, line });
  }).catch(() => undefined); // the stream was stopped, or the engine went: what came was handed on
  return { done, stop: () => body.destroy() };
}

/** `k=v,k=v message\n` (keys and values URL-encoded) into the task, the node and the message's lines. */
function parseFrame(text: string): { task: string; node: string; lines: string[] } | undefined {
  const space = text.indexOf(' ');
  if (space < 0) return undefined;
  const attrs = new Map<string, string>();
  for (const pair of text.slice(0, space).split(',')) {
    const eq = pair.indexOf('=');
    if (eq > 0) attrs.set(decode(pair.slice(0, eq)), decode(pair.slice(eq + 1)));
  }
  const lines = text.slice(space + 1).split('\n');
  if (lines.at(-1) === '') lines.pop();
  return { task: attrs.get(TASK) ?? '', node: attrs.get(NODE) ?? '', lines };
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}
