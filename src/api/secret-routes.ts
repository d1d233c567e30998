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
  // An app never deployed is registered, into `org` (default "default"): by root on the host, or by an admin of that
  // organisation (its quota holds), so that a private image's registry login can be set before the first deploy.
  app.put<{ Params: { app: string; name: string }; Body: { value: string; env?: string; org?: string } }>(
    '/v1/apps/:app/secrets/:name',
    {
      ...policy({ role: 'admin' }, 'new-app'),
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
      const scope = req.scopeOrg?.name;
      if (req.principal.kind !== 'local' && !req.registering && req.body.org !== undefined && req.body.org !== scope)
        throw new BerthError(
          'conflict',
          'app_in_other_org',
          `app "${req.params.app}" belongs to organisation "${scope}"`,
          {
            hint: 'an org is named only for a new app',
          },
        );
      if (req.registering && scope === undefined) throw new Error('registering an app with no organisation decided');
      // Remotely, only into the organisation the policy decided on (see secrets.set: `remote`).
      const register =
        req.principal.kind === 'local'
          ? { org: req.body.org }
          : req.registering
            ? { org: scope, remote: true }
            : undefined;
      return deps.secrets.set(req.params.app, req.body.env ?? null, req.params.name, req.body.value, register);
    },
  );
  app.delete<{ Params: { app: string; name: string }; Querystring: { env?: string } }>(
    '/v1/apps/:app/secrets/:name',
    { ...policy({ role: 'admin' }, 'app'), schema: { params, querystring: envQuery } },
    async (req) => deps.secrets.unset(req.params.app, req.query.env ?? null, req.params.name),
  );
}
