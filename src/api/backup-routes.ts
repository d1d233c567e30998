import type { FastifyInstance } from 'fastify';
import { DEFAULT_ENV } from '../engine/apps.js';
import type { ApiDeps } from './deps.js';
import { policy } from './policy.js';

const name = { type: 'string', minLength: 1, maxLength: 63 } as const;
const appParams = { type: 'object', required: ['app'], properties: { app: name } } as const;
const envQuery = { type: 'object', additionalProperties: false, properties: { env: name } } as const;

/** `berth backup run|ls|restore`: verified restic snapshots of an environment, and restores as a transaction. */
export function registerBackupRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const backups = deps.backups;
  if (!backups) return;
  app.post<{ Params: { app: string }; Body: { env?: string } | undefined }>(
    '/v1/apps/:app/backups',
    {
      ...policy({ role: 'member' }, 'app'),
      schema: { params: appParams, body: { ...envQuery } },
    },
    async (req) => {
      await deps.apps.requireApp(req.params.app);
      return backups.run(req.params.app, req.body?.env ?? DEFAULT_ENV);
    },
  );
  app.get<{ Params: { app: string }; Querystring: { env?: string } }>(
    '/v1/apps/:app/backups',
    { ...policy({ role: 'viewer' }, 'app'), schema: { params: appParams, querystring: envQuery } },
    async (req) => {
      await deps.apps.requireApp(req.params.app);
      return backups.list(req.params.app, req.query.env ?? DEFAULT_ENV);
    },
  );
  app.post<{ Params: { app: string; snapshot: string }; Body: { env?: string } | undefined }>(
    '/v1/apps/:app/backups/:snapshot/restore',
    {
      ...policy({ role: 'member' }, 'app'),
      schema: {
        params: {
          type: 'object',
          required: ['app', 'snapshot'],
          properties: { app: name, snapshot: { type: 'string', pattern: '^[0-9a-f]{8,64}$' } },
        },
        body: { ...envQuery },
      },
    },
    async (req) => {
      await deps.apps.requireApp(req.params.app);
      if (!deps.restores) throw new Error('restores are not available');
      return deps.restores.restore(req.params.app, req.body?.env ?? DEFAULT_ENV, req.params.snapshot);
    },
  );
}
