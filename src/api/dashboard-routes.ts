import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { policy } from './policy.js';

const UI_DIR = fileURLToPath(new URL('../../../ui/', import.meta.url));
/** The script is built from ui/src by `npm run build` (scripts/bundle-ui.mjs). */
const BUILT_DIR = fileURLToPath(new URL('../../ui/', import.meta.url));
const FILES: Readonly<Record<string, { type: string; dir: string }>> = {
  'index.html': { type: 'text/html; charset=utf-8', dir: UI_DIR },
  'app.js': { type: 'text/javascript; charset=utf-8', dir: BUILT_DIR },
  'app.css': { type: 'text/css; charset=utf-8', dir: UI_DIR },
};

/** The page may load its own script and style and talk to its own origin; nothing inline, no frames. */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/**
 * The dashboard: three static files (read once, at start; the script bundled with Preact) that use the same API as the
 * CLI, signed in with a session. Only these names are served; the files carry no data.
 */
export function registerDashboardRoutes(app: FastifyInstance): void {
  const files = new Map(
    Object.entries(FILES).map(([name, { type, dir }]) => [name, { type, body: readFileSync(dir + name) }]),
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
