import { spawn } from 'node:child_process';
import { closeSync, constants, openSync, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { ContainerEngine } from './container-engine.js';
import { DEFAULT_ROTATION, logWriterPath, type RotationOptions } from './log-writer.js';

/**
 * A container's output into its instance's log file, with the same writer as a process's
 * (src/native/log-writer.c: rotation, caps): berthd follows the engine's log stream and feeds it
 * to the writer's input. The engine keeps the output meanwhile (json-file, capped), so a berthd
 * that was away resumes where the file was last written (its mtime, in nanoseconds): lines
 * written before a kill -9 are not written twice; a line the engine logged just before the file's
 * last write but that berthd had not written yet is the only one that can be lost.
 */
export function followLogs(
  engine: ContainerEngine,
  id: string,
  logFile: string,
  opts: { rotation?: RotationOptions | undefined; uid?: number | undefined; gid?: number | undefined; resume: boolean },
): Promise<void> {
  const since = opts.resume ? mtimeSince(logFile) : '0';
  closeSync(
    openSync(logFile, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o640),
  );
  const rotation = opts.rotation ?? DEFAULT_ROTATION;
  const owner = opts.uid !== undefined ? [String(opts.uid), String(opts.gid ?? opts.uid)] : [];
  const writer = spawn(logWriterPath(), [logFile, String(rotation.maxBytes), String(rotation.keep), ...owner], {
    env: {},
    shell: false,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  const done = new Promise<void>((resolve) => {
    writer.once('exit', () => resolve());
    writer.once('error', () => resolve());
  });
  writer.stdin.on('error', () => undefined); // the writer died: its exit settles `done`
  const query = `stdout=1&stderr=1&follow=1&since=${since}`;
  engine
    .stream('GET', `/containers/${encodeURIComponent(id)}/logs?${query}`)
    .then((body) => demux(body, (chunk) => writer.stdin.write(chunk)))
    .catch(() => undefined) // the container is gone, or the engine: what came is written
    .finally(() => writer.stdin.end());
  return done;
}

/** The engine's multiplexed stream (no TTY): frames of [stream, 0, 0, 0, size (u32 BE)] + payload. */
export async function demux(body: Readable, write: (chunk: Buffer) => void): Promise<void> {
  let pending: Buffer = Buffer.alloc(0);
  for await (const data of body) {
    pending = pending.length === 0 ? (data as Buffer) : Buffer.concat([pending, data as Buffer]);
    while (pending.length >= 8) {
      const size = pending.readUInt32BE(4);
      if (pending.length < 8 + size) break;
      write(pending.subarray(8, 8 + size));
      pending = pending.subarray(8 + size);
    }
  }
}

/** "seconds.nanoseconds" of the file's last write, as the engine's `since` takes it; "0" for no file. */
function mtimeSince(file: string): string {
  try {
    const ns = statSync(file, { bigint: true }).mtimeNs;
    return `${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}`;
  } catch {
    return '0';
  }
}
