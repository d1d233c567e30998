import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { authorizeIn, policy } from './policy.js';
import { berthErrorBody } from './errors.js';
import { stepDetail, stepResult, type StepRecord } from '../engine/deploy/journal.js';
import { DEFAULT_ENV } from '../engine/apps.js';
import { BerthError } from '../core/errors.js';
import { callerRedaction, type ApiDeps } from './deps.js';
import type { DeployResult } from '../core/results.js';
import { neverDeployed, type AppRow } from '../store/apps-repo.js';

const name = { type: 'string', minLength: 1, maxLength: 63 } as const;

/**
 * Deployments, releases, rollback. With `stream: true` the response is NDJSON: one
 * `{ "steps": [...] }` line per journal change, then `{ "result": {...} }`; otherwise the
 * result alone. A failed deployment is a result (status "failed"), not an HTTP error.
 */
export function registerDeployRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.post<{
    Body: {
      dir?: string;
      app?: string;
      org?: string;
      env?: string;
      ref?: string;
      branch?: string;
      wait?: boolean;
      force?: boolean;
      noCache?: boolean;
      stream?: boolean;
    };
  }>(
    '/v1/deployments',
    {
      ...policy('authenticated'),
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            dir: { type: 'string', minLength: 1, maxLength: 4096 },
            app: name,
            org: name,
            env: name,
            ref: { type: 'string', minLength: 1, maxLength: 200 },
            branch: { type: 'string', minLength: 1, maxLength: 200 },
            wait: { type: 'boolean' },
            force: { type: 'boolean' },
            noCache: { type: 'boolean' },
            stream: { type: 'boolean' },
          },
        },
      },
    },
    async (req, reply) => {
      const dir = await deployDir(req, deps);
      return respond(
        reply,
        req.body.stream,
        (onStep) =>
          deps.deployer.deploy({
            dir,
            expectApp: req.body.app,
            env: req.body.env,
            ref: req.body.ref,
            branch: req.body.branch,
            org: req.body.org,
            wait: req.body.wait,
            force: req.body.force,
            noCache: req.body.noCache,
            onStep,
          }),
        await callerRedaction(deps, req),
      );
    },
  );
  app.post<{
    Params: { app: string };
    Body: { env?: string; release?: number; wait?: boolean; stream?: boolean } | undefined;
  }>(
    '/v1/apps/:app/rollback',
    {
      ...policy({ role: 'member' }, 'app'),
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            env: name,
            release: { type: 'integer', minimum: 1 },
            wait: { type: 'boolean' },
            stream: { type: 'boolean' },
          },
        },
      },
    },
    async (req, reply) => {
      await deps.apps.requireApp(req.params.app);
      return respond(
        reply,
        req.body?.stream,
        (onStep) =>
          deps.deployer.rollback({
            app: req.params.app,
            env: req.body?.env ?? DEFAULT_ENV,
            release: req.body?.release,
            wait: req.body?.wait,
            onStep,
          }),
        await callerRedaction(deps, req),
      );
    },
  );
  app.get<{ Params: { app: string }; Querystring: { env?: string } }>(
    '/v1/apps/:app/releases',
    policy({ role: 'viewer' }, 'app'),
    async (req) => {
      const envName = req.query.env ?? DEFAULT_ENV;
      // Attempts that made no release (failed, interrupted), a failed first deploy's included.
      const attempts = (await deps.store.attempts.list(req.params.app, envName))
        .filter((a) => a.status !== 'succeeded')
        .map((a) => ({ number: a.number, status: a.status, error: a.error, startedAt: a.startedAt }));
      const env = (await deps.store.apps.environments({ app: req.params.app, env: envName }))[0];
      if (!env && attempts.length > 0 && !(await deps.store.apps.find(req.params.app)))
        return { app: req.params.app, env: envName, releases: [], attempts, deployments: [] };
      await deps.apps.requireApp(req.params.app);
      if (!env)
        throw new BerthError(
          'not_found',
          'environment_not_found',
          `app "${req.params.app}" has no environment "${envName}"`,
        );
      // Where a release lives on the host, and where it came from there, are root's business.
      const local = req.principal.kind === 'local';
      const releases = (await deps.store.releases.list(env.id)).map((r) => {
        const { dir: sourceDir, ...source } = JSON.parse(r.source) as { dir?: string };
        return {
          number: r.number,
          current: r.id === env.currentReleaseId,
          createdAt: r.createdAt,
          source: local ? { dir: sourceDir, ...source } : source,
          ...(local ? { dir: r.dir } : {}),
        };
      });
      const deployments = (await deps.store.deployments.list(env.id, 20)).map((d) => {
        const doc = JSON.parse(d.steps) as { context: { release: { number: number } }; steps: StepRecord[] };
        return {
          id: d.id,
          kind: d.kind,
          status: d.status,
          release: doc.context.release.number,
          startedAt: d.startedAt,
          finishedAt: d.finishedAt,
          error: d.error,
          steps: doc.steps.map(stepResult),
        };
      });
      const kept = new Set(releases.map((r) => r.number));
      return {
        app: req.params.app,
        env: envName,
        releases,
        attempts: attempts.filter((a) => !kept.has(a.number)),
        deployments,
      };
    },
  );
}

/**
 * Where a deployment's source is. Root on the host names any directory (and registers new
 * apps, into `org`). Everyone else redeploys an app they are a member of, from the source
 * it was registered with: a directory on the host is not theirs to name.
 */
async function deployDir(
  req: FastifyRequest<{ Body: { dir?: string; app?: string; org?: string } }>,
  deps: ApiDeps,
): Promise<string> {
  const p = req.principal;
  if (p.kind === 'local') {
    if (req.body.dir) return req.body.dir;
    if (req.body.app) {
      await deps.apps.requireApp(req.body.app);
      return sourceOf((await deps.store.apps.find(req.body.app)) as AppRow);
    }
    throw new BerthError('invalid', 'dir_or_app', 'name a directory (dir) or a registered app (app)');
  }
  if (!req.body.app)
    throw new BerthError(
      'forbidden',
      'host_only',
      'registering an app from a directory on the host is for root on the host; remotely, name an app you are a member of (app)',
      { hint: 'berth deploy --app <name>, or create a site from a template' },
    );
  const row = await deps.store.apps.find(req.body.app);
  await authorizeIn(deps.store, p, row && { id: row.orgId, name: row.org }, 'member', `no app named "${req.body.app}"`);
  if (!row) throw new BerthError('not_found', 'app_not_found', `no app named "${req.body.app}"`);
  if (req.body.dir !== undefined && req.body.dir !== row.sourceDir)
    throw new BerthError(
      'forbidden',
      'host_only',
      `${req.body.app} deploys from ${row.sourceDir}; another directory is for root on the host`,
    );
  if (req.body.org !== undefined)
    throw new BerthError('forbidden', 'host_only', 'an existing app stays in its organisation');
  req.scopeOrg = { id: row.orgId, name: row.org };
  return sourceOf(row);
}

function sourceOf(row: AppRow): string {
  if (neverDeployed(row))
    throw new BerthError(
      'conflict',
      'never_deployed',
      `${row.name} is registered (its secrets) but was never deployed`,
      {
        hint: 'deploy it first from its directory: berth deploy DIR',
      },
    );
  return row.sourceDir;
}

export async function respond(
  reply: FastifyReply,
  stream: boolean | undefined,
  run: (onStep?: (steps: readonly StepRecord[]) => void) => Promise<DeployResult>,
  redact: <T>(value: T) => T,
): Promise<unknown> {
  if (!stream) return run();
  const head = { sent: false }; // set from the step callback, so not a local TypeScript would narrow
  const start = () => {
    if (head.sent) return;
    head.sent = true;
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache' });
  };
  try {
    const result = await run((steps) => {
      start();
      reply.raw.write(
        JSON.stringify({
          steps: steps.map((s) => ({ name: s.name, status: s.status, ms: s.ms ?? null, detail: stepDetail(s) })),
        }) + '\n',
      );
    });
    start();
    reply.raw.end(JSON.stringify(redact({ result })) + '\n');
  } catch (err) {
    if (!head.sent) throw err; // nothing sent yet: the usual error response
    const body =
      err instanceof BerthError
        ? berthErrorBody(err, reply.request)
        : { error: { code: 'internal', message: String(err) } };
    reply.raw.end(JSON.stringify(redact(body)) + '\n');
  }
  return reply;
}
