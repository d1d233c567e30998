import type { FastifyInstance, FastifyReply } from 'fastify';
import type { DeployResult } from '../engine/deploy/context.js';
import type { StepRecord } from '../engine/deploy/journal.js';
import { DEFAULT_ENV } from '../engine/apps.js';
import { BerthError } from '../core/errors.js';
import type { ApiDeps } from './server.js';

const name = { type: 'string', minLength: 1, maxLength: 63 } as const;

/**
 * Deployments, releases, rollback. With `stream: true` the response is NDJSON: one
 * `{ "steps": [...] }` line per journal change, then `{ "result": {...} }`; otherwise the
 * result alone. A failed deployment is a result (status "failed"), not an HTTP error.
 */
export function registerDeployRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.post<{ Body: { dir: string; env?: string; ref?: string; branch?: string; wait?: boolean; force?: boolean; stream?: boolean } }>(
    '/v1/deployments',
    { schema: { body: { type: 'object', required: ['dir'], additionalProperties: false, properties: { dir: { type: 'string', minLength: 1, maxLength: 4096 }, env: name, ref: { type: 'string', maxLength: 200 }, branch: { type: 'string', minLength: 1, maxLength: 200 }, wait: { type: 'boolean' }, force: { type: 'boolean' }, stream: { type: 'boolean' } } } } },
    (req, reply) => respond(reply, req.body.stream, (onStep) => deps.deployer.deploy({ dir: req.body.dir, env: req.body.env, ref: req.body.ref, branch: req.body.branch, wait: req.body.wait, force: req.body.force, onStep })),
  );
  app.post<{ Params: { app: string }; Body: { env?: string; release?: number; wait?: boolean; stream?: boolean } }>(
    '/v1/apps/:app/rollback',
    { schema: { body: { type: 'object', additionalProperties: false, properties: { env: name, release: { type: 'integer', minimum: 1 }, wait: { type: 'boolean' }, stream: { type: 'boolean' } } } } },
    async (req, reply) => {
      await deps.apps.requireApp(req.params.app);
      return respond(reply, req.body?.stream, (onStep) => deps.deployer.rollback({ app: req.params.app, env: req.body?.env ?? DEFAULT_ENV, release: req.body?.release, wait: req.body?.wait, onStep }));
    },
  );
  app.get<{ Params: { app: string }; Querystring: { env?: string } }>('/v1/apps/:app/releases', async (req) => {
    await deps.apps.requireApp(req.params.app);
    const envName = req.query.env ?? DEFAULT_ENV;
    const env = (await deps.store.apps.environments({ app: req.params.app, env: envName }))[0];
    if (!env) throw new BerthError('not_found', 'environment_not_found', `app "${req.params.app}" has no environment "${envName}"`);
    const releases = (await deps.store.releases.list(env.id)).map((r) => ({ number: r.number, current: r.id === env.currentReleaseId, createdAt: r.createdAt, source: JSON.parse(r.source), dir: r.dir }));
    const deployments = (await deps.store.deployments.list(env.id, 20)).map((d) => {
      const doc = JSON.parse(d.steps) as { context: { release: { number: number } }; steps: StepRecord[] };
      return { id: d.id, kind: d.kind, status: d.status, release: doc.context.release.number, startedAt: d.startedAt, finishedAt: d.finishedAt, error: d.error, steps: doc.steps.map((s) => ({ name: s.name, status: s.status, ms: s.ms ?? null, ...(s.error ? { error: s.error } : {}) })) };
    });
    return { app: req.params.app, env: envName, releases, deployments };
  });
}

async function respond(reply: FastifyReply, stream: boolean | undefined, run: (onStep?: (steps: readonly StepRecord[]) => void) => Promise<DeployResult>): Promise<unknown> {
  if (!stream) return run();
  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache' });
  };
  try {
    const result = await run((steps) => {
      start();
      reply.raw.write(JSON.stringify({ steps: steps.map((s) => ({ name: s.name, status: s.status, ms: s.ms ?? null })) }) + '\n');
    });
    start();
    reply.raw.end(JSON.stringify({ result }) + '\n');
  } catch (err) {
    if (!started) throw err; // nothing sent yet: the usual error response
    const e = err instanceof BerthError ? { code: err.code, message: err.message, hint: err.hint } : { code: 'internal', message: String(err) };
    reply.raw.end(JSON.stringify({ error: e }) + '\n');
  }
  return reply;
}
