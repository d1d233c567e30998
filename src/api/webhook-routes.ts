import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { BerthError } from '../core/errors.js';
import { policy } from './policy.js';
import type { ApiDeps } from './deps.js';

const appParams = {
  type: 'object',
  required: ['app'],
  properties: { app: { type: 'string', maxLength: 63 } },
} as const;

/** The push webhook (public, verified by HMAC over the raw body) and its secret (admins). */
export function registerWebhookRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.post<{ Params: { app: string }; Body: { rotate: boolean } }>(
    '/v1/apps/:app/webhook',
    {
      ...policy({ role: 'admin' }, 'app'),
      schema: {
        params: appParams,
        body: {
          type: 'object',
          required: ['rotate'],
          additionalProperties: false,
          properties: { rotate: { type: 'boolean', const: true } },
        },
      },
    },
    async (req) => deps.webhooks.rotate(req.params.app),
  );
  void app.register(async (raw) => {
    // The signature covers the bytes as sent: keep them.
    raw.addContentTypeParser(
      'application/json',
      { parseAs: 'buffer', bodyLimit: 5 * 1024 * 1024 },
      (_req, body, done) => done(null, body),
    );
    raw.post<{ Params: { app: string }; Body: Buffer }>(
      '/v1/hooks/github/:app',
      { ...policy('public'), schema: { params: appParams } },
      async (req, reply) => {
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        const signature = req.headers['x-hub-signature-256'];
        if (
          !(await deps.webhooks.verify(req.params.app, body, typeof signature === 'string' ? signature : undefined))
        ) {
          throw new BerthError('unauthorized', 'bad_signature', 'missing or wrong X-Hub-Signature-256 for this app', {
            hint: 'the webhook secret is the one `berth webhook <app>` printed',
          });
        }
        // A captured delivery sent again is refused. The signature covers the body only (not the
        // X-GitHub-Delivery header, which a replay could change), so what is taken once is the
        // signed body: GitHub's push and ping bodies differ from one delivery to the next.
        const delivery = createHash('sha256').update(body).digest('hex');
        if (!(await deps.webhooks.takeDelivery(req.params.app, delivery))) {
          return reply.status(409).send({
            app: req.params.app,
            action: 'ignored',
            why: 'this delivery (the same signed body) was handled already',
          });
        }
        let outcome;
        try {
          let payload: { ref?: unknown; deleted?: unknown };
          try {
            payload = JSON.parse(body.toString('utf8')) as typeof payload;
          } catch {
            throw new BerthError(
              'invalid',
              'bad_payload',
              "the body is not JSON (set the webhook's content type to application/json)",
            );
          }
          const event = req.headers['x-github-event'];
          outcome = await deps.webhooks.deliver(req.params.app, typeof event === 'string' ? event : undefined, payload);
        } catch (err) {
          await deps.webhooks.dropDelivery(req.params.app, delivery).catch(() => undefined); // the original error matters more
          throw err;
        }
        return reply.status(outcome.action === 'deploy' || outcome.action === 'remove' ? 202 : 200).send(outcome);
      },
    );
  });
}
