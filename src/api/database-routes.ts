import type { FastifyInstance } from 'fastify';
import { assertName } from '../core/names.js';
import { databaseConnection } from '../engine/databases/connection.js';
import type { ApiDeps } from './deps.js';
import { policy, requireRole } from './policy.js';

/**
 * An environment's managed database: how to reach it (`berth db url`). Its URL holds the
 * password, so it leaves redacted like every answer; with `show` (admins, as for setting a
 * secret) it goes out base64-encoded instead, which the redaction cannot recognise: a value
 * shown only because it was asked for by name.
 */
export function registerDatabaseRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get<{ Params: { app: string }; Querystring: { env?: string; service?: string; show?: boolean } }>(
    '/v1/apps/:app/database',
    {
      ...policy({ role: 'member' }, 'app'),
      schema: {
        params: { type: 'object', required: ['app'], properties: { app: { type: 'string', maxLength: 63 } } },
        querystring: {
          type: 'object',
          properties: {
            env: { type: 'string', minLength: 1, maxLength: 63 },
            service: { type: 'string', minLength: 1, maxLength: 63 },
            show: { type: 'boolean' },
          },
        },
      },
    },
    async (req) => {
      await deps.apps.requireApp(req.params.app);
      const env = assertName('environment', req.query.env ?? 'production');
      if (req.query.service !== undefined) assertName('service', req.query.service);
      if (req.query.show === true) requireRole(req, 'admin', "showing a database's password");
      const c = await databaseConnection(
        deps.instances.databases.connectionDeps(),
        req.params.app,
        env,
        req.query.service,
      );
      return {
        app: req.params.app,
        env,
        service: c.service,
        engine: c.engine,
        version: c.version,
        host: c.host,
        port: c.port,
        socketDir: c.socketDir,
        user: c.user,
        database: c.database,
        passwordSecret: c.passwordSecret,
        // Who `berth db shell` runs the client as on this host (none: root).
        clientUser: (await deps.instances.databases.clientUser(req.params.app, env)) ?? null,
        ...(req.query.show === true ? { urlBase64: Buffer.from(c.url).toString('base64') } : { url: c.url }),
      };
    },
  );
}
