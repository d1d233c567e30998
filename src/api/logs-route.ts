import type { FastifyInstance } from 'fastify';
import { policy } from './policy.js';
import { fileSize, readFrom, tailLines } from '../runtime/log-files.js';
import type { ApiDeps } from './server.js';

interface LogsQuery {
  service?: string;
  lines?: number;
  follow?: boolean;
  json?: boolean;
}

/** One log line in JSON form. */
export interface LogLine {
  readonly service: string;
  readonly instance: number;
  readonly line: string;
}

/**
 * GET /v1/apps/:app/logs: the last lines of each instance's log, prefixed with
 * `service[idx] | ` when there is more than one; with follow=true the response stays
 * open and streams new lines until the client goes away.
 */
export function registerLogRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get<{ Params: { app: string }; Querystring: LogsQuery }>(
    '/v1/apps/:app/logs',
    {
      ...policy({ role: 'viewer' }, 'app'),
      schema: {
        querystring: {
          type: 'object',
          properties: {
            service: { type: 'string' },
            lines: { type: 'integer', minimum: 0, maximum: 100000 },
            follow: { type: 'boolean' },
            json: { type: 'boolean' },
          },
        },
      },
    },
    async (req, reply) => {
      await deps.apps.ps({ app: req.params.app, service: req.query.service }); // 404s for unknown names
      const views = await deps.store.instances.list({ app: req.params.app, service: req.query.service });
      const files = views.map((v) => ({
        label: `${v.service}[${v.idx}]`,
        service: v.service,
        instance: v.idx,
        file: deps.instances.logFile(v),
      }));
      const prefix = (label: string) => (files.length > 1 ? `${label} | ` : '');
      // Text: `service[idx] | line` (no prefix for a single instance). JSON: one LogLine object per line (NDJSON).
      // An app may print its own secrets; what Berth serves of its log never shows them.
      // The app's own secrets: with every organisation's, an app printing guesses would learn which ones others use.
      const own = deps.secrets.redactorFor([req.params.app]);
      const format = (f: (typeof files)[number], raw: string) => {
        const line = own.redact(raw);
        return req.query.json
          ? JSON.stringify({ service: f.service, instance: f.instance, line } satisfies LogLine)
          : prefix(f.label) + line;
      };
      const head = files.flatMap((f) => tailLines(f.file, req.query.lines ?? 100).map((l) => format(f, l))).join('\n');
      if (!req.query.follow)
        return reply.type(req.query.json ? 'application/x-ndjson' : 'text/plain').send(head ? head + '\n' : '');
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache' });
      if (head) res.write(head + '\n');
      const offsets = new Map(files.map((f) => [f.file, fileSize(f.file)]));
      const pending = new Map<string, string>();
      const timer = setInterval(() => {
        for (const f of files) {
          const { text, offset } = readFrom(f.file, offsets.get(f.file) ?? 0);
          offsets.set(f.file, offset);
          if (!text) continue;
          const lines = ((pending.get(f.file) ?? '') + text).split('\n');
          pending.set(f.file, lines.pop() ?? '');
          if (lines.length > 0) res.write(lines.map((l) => format(f, l)).join('\n') + '\n');
        }
      }, 200);
      req.raw.on('close', () => clearInterval(timer));
    },
  );
}
