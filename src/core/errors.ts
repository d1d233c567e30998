/**
 * Domain errors. Handlers throw these; one place (api/errors.ts) maps `kind` to an HTTP
 * status and the CLI maps it to an exit code. `hint` is the next thing the user should do.
 */
export type ErrorKind =
  | 'invalid' // bad input: manifest, names, flags
  | 'not_found' // unknown app, service, environment
  | 'conflict' // port held, deployment running, name taken
  | 'unavailable' // resource exhausted: port range full
  | 'failed' // an operation ran and did not succeed
  | 'unauthorized' // no valid credentials
  | 'forbidden' // credentials, but not allowed
  | 'rate_limited'; // too many attempts: wait

export class BerthError extends Error {
  readonly kind: ErrorKind;
  readonly code: string;
  readonly hint: string | undefined;
  readonly details: unknown;
  /**
   * The message with what only the host admin may see (another organisation's app, a host
   * process's pid and command line); `message` is what anyone may: the API shows this one to
   * root on the host, everyone else gets `message`.
   */
  readonly hostDetail: string | undefined;

  constructor(
    kind: ErrorKind,
    code: string,
    message: string,
    opts: { hint?: string; details?: unknown; cause?: unknown; hostDetail?: string } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'BerthError';
    this.kind = kind;
    this.code = code;
    this.hint = opts.hint;
    this.details = opts.details;
    this.hostDetail = opts.hostDetail;
  }
}

/** What names something outside the caller's organisation says instead, to anyone but the host admin. */
export const OUTSIDE = 'in use by something outside your organisation';

/** Wraps an unknown thrown value with what was being done: `starting api: spawn sh ENOENT`. */
export function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
