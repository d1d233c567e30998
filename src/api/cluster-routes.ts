import type { FastifyInstance } from 'fastify';
import { policy } from './policy.js';
import type { ApiDeps } from './deps.js';

/** An address as the engine takes it: an IP, host:port, or an interface name (never a command line: JSON). */
const address = { type: 'string', minLength: 1, maxLength: 255, pattern: '^[A-Za-z0-9._:%\\[\\]-]+$' } as const;

const initBody = {
  type: 'object',
  required: ['advertise'],
  additionalProperties: false,
  properties: { advertise: address, listen: address },
} as const;

const joinBody = {
  type: 'object',
  required: ['manager', 'token', 'advertise'],
  additionalProperties: false,
  properties: { manager: address, token: { type: 'string', maxLength: 200 }, advertise: address },
} as const;

const nodeParams = {
  type: 'object',
  required: ['node'],
  properties: { node: { type: 'string', minLength: 1, maxLength: 128 } },
} as const;

const availabilityBody = {
  type: 'object',
  required: ['availability'],
  additionalProperties: false,
  properties: { availability: { enum: ['active', 'pause', 'drain'] } },
} as const;

const tokenQuery = {
  type: 'object',
  properties: { role: { enum: ['worker', 'manager'] } },
} as const;

/**
 * `berth cluster`: the Docker Swarm of this host's container engine. The host's business (host tokens):
 * a swarm runs every app of every organisation.
 */
export function registerClusterRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get('/v1/cluster', policy('host'), async () => deps.cluster.view());
  app.post<{ Body: { advertise: string; listen?: string } }>(
    '/v1/cluster/init',
    { ...policy('host'), schema: { body: initBody } },
    async (req) => deps.cluster.init(req.body.advertise, req.body.listen),
  );
  app.post<{ Body: { manager: string; token: string; advertise: string } }>(
    '/v1/cluster/join',
    { ...policy('host'), schema: { body: joinBody } },
    async (req) => deps.cluster.join(req.body.manager, req.body.token, req.body.advertise),
  );
  app.post<{ Params: { node: string }; Body: { availability: 'active' | 'pause' | 'drain' } }>(
    '/v1/cluster/nodes/:node/availability',
    { ...policy('host'), schema: { params: nodeParams, body: availabilityBody } },
    async (req) => deps.cluster.setAvailability(req.params.node, req.body.availability),
  );
  app.get<{ Querystring: { role?: 'worker' | 'manager' } }>(
    '/v1/cluster/token',
    { ...policy('host'), schema: { querystring: tokenQuery } },
    async (req) => ({ token: await deps.cluster.token(req.query.role ?? 'worker') }),
  );
}
