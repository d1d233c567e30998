import { BerthError } from './errors.js';

/**
 * The one rule for every name that becomes a path, a user, a hostname or a unit:
 * an RFC 1123 DNS label. Lowercase ASCII letters, digits and '-', 1 to 63 characters,
 * starting and ending with a letter or digit. Anything else (dots, slashes, shell
 * metacharacters, unicode look-alikes) is refused, never cleaned up.
 */
export const NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
export const NAME_MAX = 63;

export type NameKind = 'app' | 'service' | 'environment' | 'user' | 'organisation' | 'cron job';

/** Returns why `value` is not a valid name, or undefined when it is. */
export function nameProblem(value: string): string | undefined {
  if (value.length === 0) return 'is empty';
  if (value.length > NAME_MAX) return `is ${value.length} characters long; the limit is ${NAME_MAX}`;
  if (/[^\x20-\x7e]/.test(value)) return 'contains a non-ASCII character';
  if (/[A-Z]/.test(value)) return 'contains an uppercase letter';
  if (!NAME_PATTERN.test(value)) {
    if (/^-|-$/.test(value)) return 'starts or ends with "-"';
    return 'may contain only a-z, 0-9 and "-"';
  }
  return undefined;
}

export function isValidName(value: string): boolean {
  return nameProblem(value) === undefined;
}

/** Throws a BerthError naming the kind of name, the problem and the rule. */
export function assertName(kind: NameKind, value: string): string {
  const problem = nameProblem(value);
  if (problem !== undefined) {
    throw new BerthError('invalid', 'invalid_name', `${kind} name ${JSON.stringify(value)} ${problem}`, {
      hint: 'names are DNS labels: 1-63 characters of a-z, 0-9 and "-", starting and ending with a letter or digit',
    });
  }
  return value;
}

/**
 * Orders names, keys and codes by their UTF-16 code units (for names, plain alphabetical: they are lowercase ASCII).
 * Not `localeCompare`: its first call loads ICU's collation data, ~2 MiB of berthd's resident memory for good, and
 * each call costs far more; none of these orders is shown to a reader as a locale's.
 */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
