import type { Socket } from 'node:net';
import { redactStoreUrl } from '../store/store-url.js';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { registerDeployRoutes } from './deploy-routes.js';
import { errorHandler } from './errors.js';
import { callerRedaction, type ApiDeps } from './deps.js';
import { registerLogRoutes } from './logs-route.js';
import { liveRoutes } from './routes-view.js';
import { installPolicy, policy, requireRole, visibleOrgs } from './policy.js';
import { registerIdentityRoutes } from './identity-routes.js';
import { registerTokenRoutes } from './token-routes.js';
import { registerSecretRoutes } from './secret-routes.js';
import { registerRunRoutes } from './run-routes.js';
import { registerBackupRoutes } from './backup-routes.js';
import { registerDatabaseRoutes } from './database-routes.js';
import { registerWebhookRoutes } from './webhook-routes.js';
import { registerUploadRoutes } from './upload-routes.js';
import { registerDashboardRoutes } from './dashboard-routes.js';
import { registerImageRoutes } from './image-routes.js';
import { registerClusterRoutes } from './cluster-routes.js';
import { registerMetricsRoutes } from './metrics-routes.js';
import { collectRoutes, openApi } from './openapi.js';
import { VERSION } from '../version.js';
import { BerthError } from '../core/errors.js';
import { lazyCompilers } from './lazy-compilers.js';

/** Stops berthd once the client has the whole answer: the connection closes first, then the server. */
function shutdownAfterReply(socket: Socket, reply: FastifyReply, shutdown: () => void): void {
  void reply.header('connection', 'close');
  const timer = setTimeout(shutdown, 2000);
  socket.once('close', () => {
    clearTimeout(timer);
    setImmediate(shutdown);
  });
}

const appParams = {
  type: 'object',
  required: ['app'],
  properties: { app: { type: 'string', maxLength: 63 } },
} as const;
const serviceBody = {
  type: 'object',
  additionalProperties: false,
  properties: { service: { type: 'string', maxLength: 63 }, env: { type: 'string', maxLength: 63 } },
} as const;

/**
 * The HTTP API, versioned under /v1 and scoped by resource. The CLI talks to it over the
 * daemon's unix socket; the same routes can later be served over TCP with auth.
 */
export function buildApi(
  deps: ApiDeps,
  transport: { local: boolean; https?: { cert: Buffer; key: Buffer } | undefined } = { local: true },
): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: 1024 * 1024,
    forceCloseConnections: true,
    trustProxy: false,
    // A body field a route does not know is an error (400), not silently dropped (Fastify's default).
    ajv: { customOptions: { removeAdditional: false } },
    // Schemas compile when a route is first called, not all at start (see lazy-compilers.ts).
    schemaController: { compilersFactory: lazyCompilers },
    ...(transport.https ? { https: transport.https } : {}),
  } as object) as unknown as FastifyInstance;
  app.setErrorHandler(errorHandler);
  const documented = collectRoutes(app);
  // Secret values never leave in a response or an error, whatever a handler put in it: in the
  // values of JSON answers before they are serialized (numbers and keys untouched), in text ones as text.
  app.addHook('preSerialization', async (req, _reply, payload) => (await callerRedaction(deps, req))(payload));
  app.addHook('onSend', async (req, reply, payload) =>
    typeof payload === 'string' && !String(reply.getHeader('content-type') ?? '').includes('json')
      ? (await callerRedaction(deps, req))(payload)
      : payload,
  );
  installPolicy(app, { store: deps.store, identity: deps.identity, local: transport.local });
  app.get('/v1/openapi.json', policy('public'), async () => openApi(documented, VERSION));
  registerIdentityRoutes(app, deps);
  registerTokenRoutes(app, deps);

  app.get('/v1/daemon', policy('authenticated'), async (req) => {
    const info = deps.info();
    if (req.principal.kind === 'local') return info;
    return Object.fromEntries(Object.entries(info).filter(([k]) => k !== 'home')); // the host's paths are root's business
  });
  // For benchmarks: how long the loop was held since the last call (berthd started with BERTH_EVENT_LOOP_STATS=1).
  app.post('/v1/daemon/event-loop', policy('host'), async () => {
    if (!deps.eventLoop)
      throw new BerthError('not_found', 'event_loop_stats_off', 'berthd does not measure its event loop', {
        hint: 'start berthd with BERTH_EVENT_LOOP_STATS=1 in its environment',
      });
    return deps.eventLoop.take();
  });
  app.post('/v1/daemon/stop', policy('host'), async (req, reply) => {
    shutdownAfterReply(req.raw.socket, reply, deps.shutdown);
    return { stopping: true };
  });

  registerDeployRoutes(app, deps);
  app.get('/v1/apps', policy('authenticated'), async (req) => {
    const rows = await deps.store.apps.withOrg(await visibleOrgs(deps.store, req.principal));
    return { apps: rows.map((r) => r.name), orgs: Object.fromEntries(rows.map((r) => [r.name, r.org])) };
  });
  app.get<{ Querystring: { app?: string; service?: string } }>(
    '/v1/instances',
    {
      ...policy('authenticated'),
      schema: { querystring: { type: 'object', properties: { app: { type: 'string' }, service: { type: 'string' } } } },
    },
    async (req) =>
      deps.apps.ps({
        app: req.query.app,
        service: req.query.service,
        orgIds: await visibleOrgs(deps.store, req.principal),
      }),
  );
  app.get<{ Params: { app: string }; Querystring: { service?: string; env?: string } }>(
    '/v1/apps/:app/instances',
    { ...policy({ role: 'viewer' }, 'app'), schema: { params: appParams } },
    async (req) => deps.apps.ps({ app: req.params.app, service: req.query.service, env: req.query.env }),
  );
  app.get<{ Params: { app: string }; Querystring: { limit?: number } }>(
    '/v1/apps/:app/events',
    {
      ...policy({ role: 'viewer' }, 'app'),
      schema: {
        params: appParams,
        querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 10000 } } },
      },
    },
    async (req) => {
      const events = await deps.store.events.recent(req.params.app, req.query.limit ?? 100);
      // A failed first deploy took its app with it, not its events (only root on the host gets this far for an unknown name).
      if (events.length === 0) await deps.apps.requireApp(req.params.app);
      return events;
    },
  );
  for (const action of ['start', 'stop', 'restart'] as const) {
    app.post<{ Params: { app: string }; Body: { service?: string; env?: string } | undefined }>(
      `/v1/apps/:app/${action}`,
      { ...policy({ role: 'member' }, 'app'), schema: { params: appParams, body: serviceBody } },
      async (req) => deps.apps.control(req.params.app, action, req.body?.service, req.body?.env),
    );
  }
  app.delete<{ Params: { app: string }; Querystring: { purge?: boolean; wait?: boolean } }>(
    '/v1/apps/:app',
    {
      ...policy({ role: 'admin' }, 'app'),
      schema: {
        params: appParams,
        querystring: { type: 'object', properties: { purge: { type: 'boolean' }, wait: { type: 'boolean' } } },
      },
    },
    async (req) => deps.apps.rm(req.params.app, req.query.purge === true, req.query.wait === true),
  );
  app.get<{ Params: { app: string } }>(
    '/v1/apps/:app/environments',
    { ...policy({ role: 'viewer' }, 'app'), schema: { params: appParams } },
    async (req) => {
      await deps.apps.requireApp(req.params.app);
      return deps.environments.list(req.params.app);
    },
  );
  app.delete<{ Params: { app: string; env: string }; Querystring: { force?: boolean } }>(
    '/v1/apps/:app/environments/:env',
    {
      ...policy({ role: 'member' }, 'app'),
      schema: {
        params: {
          type: 'object',
          required: ['app', 'env'],
          properties: { app: { type: 'string', maxLength: 63 }, env: { type: 'string', maxLength: 63 } },
        },
        querystring: { type: 'object', properties: { force: { type: 'boolean' } } },
      },
    },
    async (req) => {
      await deps.apps.requireApp(req.params.app);
      if (req.query.force === true) requireRole(req, 'admin', 'removing an environment that is not a preview');
      return deps.environments.remove(req.params.app, req.params.env, { force: req.query.force === true });
    },
  );
  app.get<{ Querystring: { app?: string; limit?: number } }>(
    '/v1/events',
    {
      ...policy('authenticated'),
      schema: {
        querystring: {
          type: 'object',
          properties: { app: { type: 'string' }, limit: { type: 'integer', minimum: 1, maximum: 10000 } },
        },
      },
    },
    async (req) => {
      const orgs = await visibleOrgs(deps.store, req.principal);
      return deps.store.events.recent(
        req.query.app,
        req.query.limit ?? 100,
        orgs === undefined ? undefined : await deps.store.apps.names(orgs),
      );
    },
  );
  app.get('/v1/routes', policy('authenticated'), async (req) => {
    const orgs = await visibleOrgs(deps.store, req.principal);
    const routes = await liveRoutes(deps.proxy);
    if (orgs === undefined) return routes;
    const mine = new Set(await deps.store.apps.names(orgs));
    return routes.filter((r) => mine.has(r.app));
  });
  // config.yaml's schema (zod, yaml) loads on these routes' first call, not at berthd's start (issue 14).
  const settingsFile = () => import('../config/settings-file.js');
  app.get('/v1/config', policy('host'), async () => {
    const [{ readSettingsFile }, { effectiveSettings }] = await Promise.all([
      settingsFile(),
      import('../config/setting-sources.js'),
    ]);
    const settings = readSettingsFile(deps.settingsFile);
    // berthd's own environment: the variables it started with are the ones in effect.
    return {
      file: deps.settingsFile,
      settings: withoutPassword(settings),
      effective: effectiveSettings(settings, deps.settingsFile, process.env),
    };
  });
  app.put<{ Body: { key: string; value: string } }>(
    '/v1/config',
    {
      ...policy('host'),
      schema: {
        body: {
          type: 'object',
          required: ['key', 'value'],
          additionalProperties: false,
          properties: { key: { type: 'string', maxLength: 100 }, value: { type: 'string', maxLength: 4096 } },
        },
      },
    },
    async (req, reply) => {
      const { readSettingsFile, setSetting } = await settingsFile();
      setSetting(deps.settingsFile, req.body.key, req.body.value);
      // berthd reads its settings at start: it restarts (apps and the proxy keep running) and re-applies every route.
      shutdownAfterReply(req.raw.socket, reply, deps.shutdown);
      return {
        file: deps.settingsFile,
        settings: withoutPassword(readSettingsFile(deps.settingsFile)),
        restarting: true,
      };
    },
  );
  app.get<{ Querystring: { app?: string } }>(
    '/v1/doctor',
    {
      ...policy('host'),
      schema: { querystring: { type: 'object', properties: { app: { type: 'string', maxLength: 63 } } } },
    },
    async (req) => {
      if (req.query.app !== undefined) await deps.apps.requireApp(req.query.app);
      return { findings: await deps.doctor(req.query.app) };
    },
  );
  app.get<{ Params: { app: string } }>(
    '/v1/apps/:app/doctor',
    { ...policy({ role: 'viewer' }, 'app'), schema: { params: appParams } },
    async (req) => {
      await deps.apps.requireApp(req.params.app);
      return { findings: await deps.doctor(req.params.app) };
    },
  );
  app.get('/v1/proxy', policy('host'), async () => deps.proxy.status());
  app.post('/v1/proxy/stop', policy('host'), async () => {
    await deps.proxy.stop();
    return deps.proxy.status();
  });
  app.post('/v1/proxy/start', policy('host'), async () => {
    await deps.proxy.start();
    return deps.proxy.status();
  });
  registerLogRoutes(app, deps);
  registerSecretRoutes(app, deps);
  registerDatabaseRoutes(app, deps);
  registerRunRoutes(app, deps);
  registerBackupRoutes(app, deps);
  registerWebhookRoutes(app, deps);
  registerUploadRoutes(app, deps);
  registerImageRoutes(app, deps);
  registerClusterRoutes(app, deps);
  registerMetricsRoutes(app, deps);
  registerDashboardRoutes(app);
  return app;
}

/** config.yaml's keys as answered: the store's URL without its password. */
function withoutPassword(settings: Record<string, unknown>): Record<string, unknown> {
  return typeof settings.store === 'string' ? { ...settings, store: redactStoreUrl(settings.store) } : settings;
}
