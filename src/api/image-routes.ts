import type { FastifyInstance } from 'fastify';
import { policy } from './policy.js';
import type { ApiDeps } from './deps.js';

const appParams = {
  type: 'object',
  required: ['app'],
  properties: { app: { type: 'string', maxLength: 63 } },
} as const;

/** Prune takes no options (an empty object, or no body). */
const noBody = { type: 'object', additionalProperties: false, properties: {} } as const;

/**
 * This BERTH_HOME's images on the container engine: which release uses each and whether it is
 * kept (`berth images`), and the removal of what no kept release uses (`berth images prune`).
 * The whole host's to root (host tokens); one app's to its members.
 */
export function registerImageRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get('/v1/images', policy('host'), async () => deps.images.list());
  app.get<{ Params: { app: string } }>(
    '/v1/apps/:app/images',
    { ...policy({ role: 'viewer' }, 'app'), schema: { params: appParams } },
    async (req) => {
      await deps.apps.requireApp(req.params.app);
      return deps.images.list(req.params.app);
    },
  );
  app.post('/v1/images/prune', { ...policy('host'), schema: { body: noBody } }, async () => deps.images.prune());
  app.post<{ Params: { app: string } }>(
    '/v1/apps/:app/images/prune',
    { ...policy({ role: 'member' }, 'app'), schema: { params: appParams, body: noBody } },
    async (req) => {
      await deps.apps.requireApp(req.params.app);
      return deps.images.prune(req.params.app);
    },
  );
}
