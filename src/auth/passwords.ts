import { createHash, randomBytes } from 'node:crypto';
import { BerthError } from '../core/errors.js';

/** argon2id (@node-rs/argon2's Algorithm.Argon2id), OWASP's minimum parameters. */
const ARGON2 = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;
/** The argon2 binding (a native module, ~4 MiB resident), loaded when a password is first hashed or checked. */
const argon2 = () => import('@node-rs/argon2');
/** A hash to verify against when the user does not exist, so timing does not tell. */
let dummyHash: string | undefined;

/** The argon2id hash of a password that passed `checkPassword`. */
export const hashPassword = async (password: string): Promise<string> => (await argon2()).hash(password, ARGON2);

/** True when `password` matches `hashed`; with no hash (no such user) it still spends the same time, then says no. */
export async function verifyPassword(hashed: string | undefined, password: string): Promise<boolean> {
  dummyHash ??= await hashPassword('not a password');
  const ok = await (await argon2()).verify(hashed ?? dummyHash, password).catch(() => false);
  return ok && hashed !== undefined;
}

export const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** A random 256-bit secret with a prefix that says what it is (berthi_: an invite, bertht_: a token, ...). */
export const newSecret = (prefix: string): string => `${prefix}_${randomBytes(32).toString('base64url')}`;

export function checkPassword(password: string): void {
  if (password.length < 12 || password.length > 1024)
    throw new BerthError('invalid', 'weak_password', 'a password has 12 to 1024 characters', {
      hint: 'use a passphrase',
    });
}
