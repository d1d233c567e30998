import type { FastifyInstance } from 'fastify';
import { BerthError } from '../core/errors.js';
import { policy } from './policy.js';
import type { ApiDeps } from './deps.js';

const params = {
  type: 'object',
  required: ['app', 'name'],
  properties: { app: { type: 'string', maxLength: 63 }, name: { type: 'string', maxLength: 128 } },
} as const;
const envQuery = { type: 'object', properties: { env: { type: 'string', minLength: 1, maxLength: 63 } } } as const;

/** Secrets of an app: names and dates to members, values in only (admins); never a value out. */
export function registerSecretRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get<{ Params: { app: string } }>(
    '/v1/apps/:app/secrets',
    {
      ...policy({ role: 'member' }, 'app'),
      schema: { params: { type: 'object', required: ['app'], properties: { app: { type: 'string', maxLength: 63 } } } },
    },
    async (req) => deps.secrets.list(req.params.app),
  );
  // Root on the host (who registers apps) may name an app never deployed: it is registered, into `org`.
  app.put<{ Params: { app: string; name: string }; Body: { value: string; env?: string; org?: string } }>(
    '/v1/apps/:app/secrets/:name',
    {
      ...policy({ role: 'admin' }, 'app'),
      schema: {
        params,
        body: {
          type: 'object',
          required: ['value'],
          additionalProperties: false,
          properties: {
            value: { type: 'string', minLength: 1, maxLength: 65536 },
            env: { type: 'string', minLength: 1, maxLength: 63 },
            org: { type: 'string', minLength: 1, maxLength: 63 },
          },
        },
      },
    },
    async (req) => {
      if (req.principal.kind !== 'local' && req.body.org !== undefined)
        throw new BerthError('forbidden', 'host_only', 'registering an app is for root on the host');
      const register = req.principal.kind === 'local' ? { org: req.body.org } : undefined;
      return deps.secrets.set(req.params.app, req.body.env ?? null, req.params.name, req.body.value, register);
    },
  );
  app.delete<{ Params: { app: string; name: string }; Querystring: { env?: string } }>(
    '/v1/apps/:app/secrets/:name',
    { ...policy({ role: 'admin' }, 'app'), schema: { params, querystring: envQuery } },
    async (req) => deps.secrets.unset(req.params.app, req.query.env ?? null, req.params.name),
  );
}
