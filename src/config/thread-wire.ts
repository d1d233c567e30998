import { BerthError, type ErrorKind } from '../core/errors.js';
import { ManifestError } from './manifest-basics.js';

/** A BerthError as it crosses between threads (a structured clone keeps only an Error's message). */
export interface WireError {
  readonly kind: ErrorKind;
  readonly code: string;
  readonly message: string;
  readonly hint?: string | undefined;
  readonly details?: unknown;
}

export function toWire(err: unknown, file: string): WireError {
  return err instanceof BerthError
    ? { kind: err.kind, code: err.code, message: err.message, hint: err.hint, details: err.details }
    : { kind: 'invalid', code: 'invalid_manifest', message: `${file}: ${String(err)}` };
}

/** The error again, of its class (a manifest's problems come back as a ManifestError). */
export function fromWire(e: WireError): BerthError {
  const details = e.details as { file?: string; problems?: string[] } | undefined;
  if (e.code === 'invalid_manifest' && details?.file !== undefined && Array.isArray(details.problems))
    return new ManifestError(details.file, details.problems);
  return new BerthError(e.kind, e.code, e.message, { ...(e.hint ? { hint: e.hint } : {}), details: e.details });
}
