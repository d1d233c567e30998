import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { BerthError, type ErrorKind } from '../core/errors.js';
import type { Principal } from '../core/roles.js';

const STATUS: Record<ErrorKind, number> = {
  invalid: 400,
  not_found: 404,
  conflict: 409,
  unavailable: 503,
  failed: 500,
  unauthorized: 401,
  forbidden: 403,
  rate_limited: 429,
};

/** The error body every API route returns. */
export interface ErrorBody {
  readonly error: {
    readonly code: string;
    readonly message: string;
    readonly hint?: string;
    readonly details?: unknown;
  };
}

/** A domain error as the caller may see it: the host admin (root on the host) gets what it names outside their organisation. */
export function berthErrorBody(err: BerthError, req: FastifyRequest): ErrorBody {
  const principal = req.principal as Principal | null; // null when the request was refused before it was authenticated
  const host = principal?.kind === 'local';
  return {
    error: {
      code: err.code,
      message: host && err.hostDetail !== undefined ? err.hostDetail : err.message,
      ...(err.hint ? { hint: err.hint } : {}),
      ...(err.details !== undefined ? { details: err.details } : {}),
    },
  };
}

/** The one place where errors become HTTP responses. */
export function errorHandler(err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply): void {
  if (err instanceof BerthError) {
    void reply.status(STATUS[err.kind]).send(berthErrorBody(err, req));
    return;
  }
  const fe = err as FastifyError;
  if (fe.validation) {
    void reply.status(400).send({ error: { code: 'invalid_request', message: fe.message } } satisfies ErrorBody);
    return;
  }
  const status = fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500 ? fe.statusCode : 500;
  void reply
    .status(status)
    .send({ error: { code: status === 500 ? 'internal' : 'bad_request', message: err.message } } satisfies ErrorBody);
}
