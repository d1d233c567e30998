import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';

/** A real HTTP backend on 127.0.0.1 that answers who it is, what it got, and echoes bodies and WebSocket frames. */
export interface Backend {
  readonly name: string;
  readonly port: number;
  readonly server: Server;
  /** TCP connections accepted so far (to see keep-alive pooling). */
  connections: number;
  close(): Promise<void>;
}

export async function startBackend(name: string, opts: { delayMs?: number } = {}): Promise<Backend> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const answer = () => {
        if (req.url?.startsWith('/echo')) {
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-backend': name });
          // Stream it back in pieces.
          for (let i = 0; i < body.length; i += 65536) res.write(body.subarray(i, i + 65536));
          res.end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json', 'x-backend': name });
        res.end(
          JSON.stringify({
            backend: name,
            method: req.method,
            url: req.url,
            headers: req.headers,
            bodyLength: body.length,
          }),
        );
      };
      if (opts.delayMs) setTimeout(answer, opts.delayMs);
      else answer();
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket) => acceptWebSocket(req, socket, name));
  const b: Backend = {
    name,
    port: 0,
    server,
    connections: 0,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  server.on('connection', () => b.connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  (b as { port: number }).port = (server.address() as { port: number }).port;
  return b;
}

/** A minimal RFC 6455 echo: text frames come back prefixed with the backend's name. */
function acceptWebSocket(req: IncomingMessage, socket: Socket, name: string): void {
  const key = req.headers['sec-websocket-key'] as string;
  const accept = createHash('sha1')
    .update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')
    .digest('base64');
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\nx-forwarded-host: ${String(req.headers['x-forwarded-host'] ?? '')}\r\n\r\n`,
  );
  let buf = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 2) {
      const opcode = (buf[0] as number) & 0x0f;
      let len = (buf[1] as number) & 0x7f;
      let offset = 2;
      if (len === 126) {
        len = buf.readUInt16BE(2);
        offset = 4;
      }
      const mask = buf.subarray(offset, offset + 4);
      if (buf.length < offset + 4 + len) return;
      const payload = Buffer.from(
        buf.subarray(offset + 4, offset + 4 + len).map((b, i) => b ^ (mask[i % 4] as number)),
      );
      buf = buf.subarray(offset + 4 + len);
      if (opcode === 8) {
        socket.end(Buffer.from([0x88, 0]));
        return;
      }
      const reply = Buffer.from(`${name}: ${payload.toString('utf8')}`);
      const header =
        reply.length < 126
          ? Buffer.from([0x81, reply.length])
          : Buffer.from([0x81, 126, reply.length >> 8, reply.length & 255]);
      socket.write(Buffer.concat([header, reply]));
    }
  });
  socket.on('error', () => socket.destroy());
}

/** A minimal WebSocket client over a raw socket (so the Host header can be set): sends texts, returns the replies. */
export async function webSocketExchange(
  port: number,
  host: string,
  path: string,
  texts: readonly string[],
): Promise<{ status: string; replies: string[] }> {
  const { connect } = await import('node:net');
  const { randomBytes } = await import('node:crypto');
  const socket = connect({ host: '127.0.0.1', port });
  await new Promise<void>((r, j) => socket.once('connect', () => r()).once('error', j));
  socket.write(
    `GET ${path} HTTP/1.1\r\nhost: ${host}\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: ${randomBytes(16).toString('base64')}\r\nsec-websocket-version: 13\r\n\r\n`,
  );
  let buf = Buffer.alloc(0);
  const replies: string[] = [];
  let status = '';
  const frame = (text: string) => {
    const payload = Buffer.from(text);
    const mask = randomBytes(4);
    return Buffer.concat([
      Buffer.from([0x81, 0x80 | payload.length]),
      mask,
      Buffer.from(payload.map((b, i) => b ^ (mask[i % 4] as number))),
    ]);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`websocket timed out; status ${status}, replies ${JSON.stringify(replies)}`)),
      5000,
    );
    socket.on('error', reject);
    socket.on('close', () => resolve({ status, replies }));
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (!status) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        status = buf.subarray(0, buf.indexOf('\r\n')).toString();
        buf = buf.subarray(end + 4);
        if (!status.includes(' 101 ')) {
          clearTimeout(timer);
          socket.destroy();
          resolve({ status, replies });
          return;
        }
        socket.write(frame(texts[0] as string));
      }
      while (buf.length >= 2 && buf.length >= 2 + ((buf[1] as number) & 0x7f)) {
        const len = (buf[1] as number) & 0x7f;
        replies.push(buf.subarray(2, 2 + len).toString());
        buf = buf.subarray(2 + len);
        if (replies.length < texts.length) socket.write(frame(texts[replies.length] as string));
        else {
          clearTimeout(timer);
          socket.end();
          resolve({ status, replies });
        }
      }
    });
  });
}
