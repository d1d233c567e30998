import { Socket, type SocketConstructorOpts } from 'node:net';

/**
 * Every client connection the proxy reads itself reads into this one buffer (net's `onread`),
 * as the upstream connections share theirs (upstream-pool.ts): no 64 KiB allocation, ArrayBuffer
 * and Buffer per read, no Readable push and its tick. One thread consumes each read's bytes before
 * the next read, so sharing is safe as long as no one keeps a view of it: the client connection
 * copies what it keeps (a partial head, pipelined requests), and request bodies are handed on as copies.
 */
const READ_BUFFER = Buffer.allocUnsafeSlow(64 * 1024);

/** What `net` keeps of an accepted connection: the libuv handle, the one thing re-wrapped here. */
interface WithHandle {
  _handle: object | null;
}

/** net.Socket takes an existing handle (as Node's own cluster and child_process do); @types/node does not say so. */
type HandleOpts = SocketConstructorOpts & { handle: object; onread?: { buffer: Uint8Array; callback: OnRead } };
type OnRead = (n: number, buf: Uint8Array) => boolean;

/** Moves an open connection's handle into a new Socket: the old wrapper closes without closing the connection. */
function rewrap(old: Socket, opts: Omit<HandleOpts, 'handle'>): Socket | undefined {
  const carrier = old as unknown as WithHandle;
  const handle = carrier._handle;
  if (!handle || old.destroyed || old.connecting) return undefined;
  carrier._handle = null;
  old.destroy();
  return new Socket({ ...opts, handle, readable: true, writable: true } as HandleOpts);
}

/**
 * The accepted connection (from a server made with `pauseOnConnect`, so nothing was read yet) as a
 * socket that hands each read to `onBytes` as a view of the shared buffer, valid during the call
 * only. Where the handle cannot be moved (a Node without it), the same callback gets `data` events.
 */
export function sharedBufferReader(accepted: Socket, onBytes: (chunk: Buffer) => void): Socket {
  const socket = rewrap(accepted, {
    onread: {
      buffer: READ_BUFFER,
      callback: (n) => {
        onBytes(READ_BUFFER.subarray(0, n));
        return true;
      },
    },
  });
  if (socket) return socket;
  accepted.on('data', onBytes);
  accepted.resume();
  return accepted;
}

/**
 * A socket with Readable `data` events, for node:http to take over a connection read by
 * `sharedBufferReader`: paused, with the reader's listeners gone. The handle keeps reading into
 * the shared buffer (Node cannot undo `onread` on a handle), so each read is pushed into the Readable as a copy,
 * which is what net does by default. Call it with nothing queued for writing.
 */
export function plainSocket(reader: Socket): Socket {
  reader.removeAllListeners('data');
  let plain: Socket | undefined = undefined;
  const callback = (n: number) => plain!.push(Buffer.from(READ_BUFFER.subarray(0, n)));
  plain = rewrap(reader, { pauseOnCreate: true, onread: { buffer: READ_BUFFER, callback } } as Omit<
    HandleOpts,
    'handle'
  >);
  return plain ?? reader;
}

/** True when `buf` is a view of the shared read buffer (the caller must copy what it keeps). */
export function isSharedView(buf: Buffer): boolean {
  return buf.buffer === READ_BUFFER.buffer;
}
