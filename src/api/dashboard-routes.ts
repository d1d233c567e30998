import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { policy } from './policy.js';

const UI_DIR = fileURLToPath(new URL('../../../ui/', import.meta.url));
const FILES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

/** The page may load its own script and style and talk to its own origin; nothing inline, no frames. */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/**
 * The dashboard: three static files (read once, at start) that use the same API as the
 * CLI, signed in with a session. Only these names are served; the files carry no data.
 */
export function registerDashboardRoutes(app: FastifyInstance): void {
  const files = new Map(
    Object.entries(FILES).map(([name, type]) => [name, { type, body: readFileSync(UI_DIR + name) }]),
  );
  const serve = (params: { file?: string }, reply: FastifyReply) => {
    const f = files.get(params.file || 'index.html');
    if (!f) return reply.status(404).type('text/plain; charset=utf-8').send(Buffer.from('not found\n'));
    return reply
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('x-frame-options', 'DENY')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-cache')
      .type(f.type)
      .send(f.body);
  };
  app.get('/', policy('public'), async (_req, reply) => reply.redirect('/ui/', 302));
  app.get<{ Params: { file?: string } }>('/ui/', policy('public'), async (req, reply) => serve(req.params, reply));
  app.get<{ Params: { file?: string } }>('/ui/:file', policy('public'), async (req, reply) => serve(req.params, reply));
}
