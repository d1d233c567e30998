import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { BerthError } from '../core/errors.js';
import { writeFileAtomic } from '../system/atomic-write.js';
import { parseHostSettings } from './settings-schema.js';

/** The settings written in config.yaml (not the defaults), as a plain object. */
export function readSettingsFile(file: string): Record<string, unknown> {
  try {
    return (parseDocument(readFileSync(file, 'utf8')).toJS() as Record<string, unknown> | null) ?? {};
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
}

/**
 * Sets one key of config.yaml (a dotted path like `nginx.binary`; the value is read as YAML,
 * so `8080` is a number). The new file is validated as a whole before it replaces the old
 * one atomically; comments elsewhere in the file are kept.
 */
export function setSetting(file: string, key: string, raw: string): void {
  if (!/^[a-z_]+(\.[a-z_]+)*$/.test(key))
    throw new BerthError('invalid', 'invalid_key', `"${key}" is not a settings key`, {
      hint: 'e.g. proxy, http_port, nginx.binary',
    });
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // a new file
  }
  const doc = parseDocument(text || '{}');
  doc.setIn(key.split('.'), parseDocument(raw).toJS());
  parseHostSettings(doc.toJS() ?? {}, file, {});
  writeFileAtomic(file, doc.toString(), 0o600);
}
