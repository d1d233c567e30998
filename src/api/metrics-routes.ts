import type { FastifyInstance } from 'fastify';
import { BerthError } from '../core/errors.js';
import { DEFAULT_ENV } from '../engine/apps.js';
import { collect } from '../metrics/collector.js';
import { HISTORY_WINDOW_MS } from '../metrics/history.js';
import { exposition } from '../metrics/exposition.js';
import { policy, visibleOrgs } from './policy.js';
import type { ApiDeps } from './deps.js';
import { duration, ms } from './identity-schemas.js';

/**
 * GET /metrics (Prometheus' text format: root on the host, or a metrics token over TCP), GET
 * /v1/stats (the same samples as JSON, of the caller's organisations: `berth top`), GET
 * /v1/apps/:app/metrics (an environment's last hour per service: the dashboard's graphs), and the
 * metrics tokens, which only the host admin makes and revokes.
 */
export function registerMetricsRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get('/metrics', policy('metrics'), async (_req, reply) => {
    const text = exposition(await collect(deps.metrics));
    return reply.type('text/plain; version=0.0.4; charset=utf-8').send(text);
  });
  app.get('/v1/stats', policy('authenticated'), async (req) => {
    const s = await collect(deps.metrics, await visibleOrgs(deps.store, req.principal));
    return { at: s.at, instances: s.instances, routes: s.routes };
  });
  app.get<{ Params: { app: string }; Querystring: { env?: string } }>(
    '/v1/apps/:app/metrics',
    policy({ role: 'viewer' }, 'app'),
    async (req) => {
      await deps.apps.requireApp(req.params.app);
      const env = req.query.env ?? DEFAULT_ENV;
      const h = deps.metricsHistory;
      await h?.restored;
      return {
        app: req.params.app,
        env,
        intervalMs: h?.intervalMs ?? null,
        windowMs: HISTORY_WINDOW_MS,
        services: h?.of(req.params.app, env) ?? [],
      };
    },
  );
  app.post<{ Body: { name: string; expires?: string } }>(
    '/v1/metrics/tokens',
    {
      ...policy('host'),
      schema: {
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: { name: { type: 'string', minLength: 1, maxLength: 100 }, expires: duration },
        },
      },
    },
    async (req) => deps.identity.createMetricsToken(req.body.name, ms(req.body.expires, 365 * 86_400_000)),
  );
  app.get('/v1/metrics/tokens', policy('host'), async () => deps.store.metrics.tokens());
  app.delete<{ Params: { id: number } }>(
    '/v1/metrics/tokens/:id',
    {
      ...policy('host'),
      schema: { params: { type: 'object', required: ['id'], properties: { id: { type: 'integer', minimum: 1 } } } },
    },
    async (req) => {
      if (!(await deps.store.metrics.deleteToken(req.params.id)))
        throw new BerthError('not_found', 'token_not_found', `no metrics token ${req.params.id}`, {
          hint: 'berth metrics tokens',
        });
      return { deleted: req.params.id };
    },
  );
}
