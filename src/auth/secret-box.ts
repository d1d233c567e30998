import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { BerthError } from '../core/errors.js';

/**
 * AES-256-GCM with a key file (32 random bytes, mode 0600, made on first use). Each value
 * gets a fresh 96-bit IV; the associated data binds it to its slot (app/env/name), so a
 * sealed value copied to another slot does not open.
 */
export class SecretBox {
  readonly #key: Buffer;

  constructor(keyFile: string) {
    this.#key = loadKey(keyFile);
  }

  seal(plain: string, slot: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(slot));
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
  }

  open(sealed: string, slot: string): string {
    const raw = Buffer.from(sealed, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(slot));
    decipher.setAuthTag(raw.subarray(12, 28));
    try {
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    } catch {
      throw new BerthError('failed', 'secret_unreadable', `secret ${slot} does not decrypt with this host's key`, {
        hint: 'was secrets.key under BERTH_HOME replaced? set the secret again',
      });
    }
  }
}

function loadKey(file: string): Buffer {
  try {
    const fd = openSync(file, 'wx', 0o600); // only the first start makes it
    writeSync(fd, randomBytes(32));
    closeSync(fd);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  if ((statSync(file).mode & 0o077) !== 0)
    throw new BerthError('failed', 'key_exposed', `${file} is readable by others than its owner`, {
      hint: `chmod 600 ${file}`,
    });
  const key = readFileSync(file);
  if (key.length !== 32)
    throw new BerthError('failed', 'key_invalid', `${file} is not a 32-byte key`, {
      hint: 'restore it from a backup; without it the secrets cannot be read',
    });
  return key;
}
