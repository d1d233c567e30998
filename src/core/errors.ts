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

  constructor(
    kind: ErrorKind,
    code: string,
    message: string,
    opts: { hint?: string; details?: unknown; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'BerthError';
    this.kind = kind;
    this.code = code;
    this.hint = opts.hint;
    this.details = opts.details;
  }
}

/** Wraps an unknown thrown value with what was being done: `starting api: spawn sh ENOENT`. */
export function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
