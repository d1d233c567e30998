import { parseDuration } from '../config/duration.js';
import { BerthError } from '../core/errors.js';
import { ROLES } from '../core/roles.js';

/** Request schema pieces shared by the identity and token routes. */
export const name = { type: 'string', minLength: 1, maxLength: 63 } as const;
export const role = { type: 'string', enum: [...ROLES] } as const;
export const duration = { type: 'string', maxLength: 20 } as const;
export const orgParams = { type: 'object', required: ['org'], properties: { org: name } } as const;

/** A duration option in ms ("12h", "30d"); `fallback` when absent. */
export function ms(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const v = parseDuration(value);
  if (v === undefined || v <= 0)
    throw new BerthError(
      'invalid',
      'bad_duration',
      `expected a duration like "12h" or "30d", got ${JSON.stringify(value)}`,
    );
  return v;
}
