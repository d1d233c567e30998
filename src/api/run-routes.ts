import type { FastifyInstance } from 'fastify';
import { BerthError } from '../core/errors.js';
import { DEFAULT_ENV } from '../engine/apps.js';
import type { ApiDeps } from './deps.js';
import { policy } from './policy.js';

const name = { type: 'string', minLength: 1, maxLength: 63 } as const;
const appParams = { type: 'object', required: ['app'], properties: { app: name } } as const;

/** How long a line without its end may wait before it is sent (a prompt, a progress bar). */
const PARTIAL_LINE_MS = 100;

/** What a `run` response carries, one JSON object per line: output as it comes, then how the command ended. */
export type RunFrame =
  | { readonly stdout: string }
  | { readonly stderr: string }
  | { readonly exit: { readonly code: number | null; readonly signal: string | null } };

/**
 * `berth run` and `berth cron ls`. A run streams NDJSON (see RunFrame) from the moment the
 * command runs; what refuses it before (no such app, environment or service, no current
 * release, no such program) is the usual error response. The command ends when the caller
 * goes away. Its output is redacted of the app's secrets like its logs, line by line.
 */
export function registerRunRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.post<{ Params: { app: string }; Body: { argv: string[]; env?: string; service?: string } }>(
    '/v1/apps/:app/run',
    {
      ...policy({ role: 'member' }, 'app'),
      schema: {
        params: appParams,
        body: {
          type: 'object',
          required: ['argv'],
          additionalProperties: false,
          properties: {
            argv: { type: 'array', minItems: 1, maxItems: 4096, items: { type: 'string', maxLength: 131072 } },
            env: name,
            service: name,
          },
        },
      },
    },
    async (req, reply) => {
      const { argv, service } = req.body;
      const env = req.body.env ?? DEFAULT_ENV;
      await deps.apps.requireApp(req.params.app);
      if ((argv[0] ?? '') === '' || argv.some((a) => a.includes('\0')))
        throw new BerthError('invalid', 'bad_argv', 'the command is empty or has a NUL byte in an argument');
      req.audit = { detail: `env=${env} service=${service ?? '-'} argv=${JSON.stringify(argv).slice(0, 1000)}` };
      const plan = await deps.exec.plan(req.params.app, env, service, deps.exec.marker('run'));
      const cmd = await deps.exec.attach(plan, argv);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache' });
      const redactor = deps.secrets.redactorFor([req.params.app]);
      const send = (frame: RunFrame) => res.write(JSON.stringify(frame) + '\n');
      const out = lines(cmd.stdout, (text) => send({ stdout: redactor.redact(text) }));
      const err = lines(cmd.stderr, (text) => send({ stderr: redactor.redact(text) }));
      let done = false;
      res.once('close', () => {
        if (!done) void cmd.stop(); // the caller went away (Ctrl-C): so does the command
      });
      const exit = await cmd.exited;
      done = true;
      out();
      err();
      req.audit.outcome = `exit ${exit.signal ?? exit.code}`;
      res.end(JSON.stringify({ exit } satisfies RunFrame) + '\n');
      return reply;
    },
  );
  app.get<{ Params: { app: string }; Querystring: { env?: string } }>(
    '/v1/apps/:app/cron',
    {
      ...policy({ role: 'viewer' }, 'app'),
      schema: { params: appParams, querystring: { type: 'object', properties: { env: name } } },
    },
    async (req) => {
      await deps.apps.requireApp(req.params.app);
      const env = req.query.env ?? DEFAULT_ENV;
      const row = (await deps.store.apps.environments({ app: req.params.app, env }))[0];
      if (!row) {
        const names = (await deps.store.apps.environments({ app: req.params.app })).map((e) => e.name);
        throw new BerthError(
          'not_found',
          'environment_not_found',
          `app "${req.params.app}" has no environment "${env}"`,
          {
            hint: `its environments: ${names.join(', ') || 'none'} (choose one with --env)`,
          },
        );
      }
      return deps.cron.status(row);
    },
  );
}

/**
 * Hands on a stream's text in whole lines (so a secret is redacted whole), a line without its
 * end once nothing more came for a moment or it grew long. Returns the function that sends the rest.
 */
function lines(stream: NodeJS.ReadableStream, emit: (text: string) => void): () => void {
  let pending = '';
  let timer: NodeJS.Timeout | undefined;
  const flush = (all: boolean) => {
    const cut = all ? pending.length : pending.lastIndexOf('\n') + 1;
    if (cut <= 0) return;
    emit(pending.slice(0, cut));
    pending = pending.slice(cut);
  };
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    pending += chunk;
    flush(pending.length > 65536);
    clearTimeout(timer);
    if (pending) timer = setTimeout(() => flush(true), PARTIAL_LINE_MS);
  });
  return () => {
    clearTimeout(timer);
    flush(true);
  };
}
