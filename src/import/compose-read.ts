import { isMap, isScalar, parseDocument } from 'yaml';
import { BerthError } from '../core/errors.js';
import { parseDotenv } from './dotenv.js';
import { readInside } from './inside-read.js';
import { isMapping, type Warnings } from './import-warnings.js';

/** The most a compose file may weigh here: 4 MiB. */
export const COMPOSE_MAX_BYTES = 4 * 1024 * 1024;

/**
 * Parses compose YAML into plain values: anchors and `<<` merge keys resolved (compose files use
 * them for shared blocks), aliases capped (a "billion laughs" file is an error, not a hang).
 */
export function parseCompose(text: string, file: string): Record<string, unknown> {
  if (Buffer.byteLength(text, 'utf8') > COMPOSE_MAX_BYTES)
    throw invalid(`${file}: over the ${COMPOSE_MAX_BYTES / 1024 / 1024} MiB read here`, 'is this a compose file?');
  const doc = parseDocument(text, { merge: true, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0)
    throw invalid(
      doc.errors.map((e) => `${file}: YAML syntax: ${e.message.split('\n')[0]}`).join('\n'),
      'fix the YAML (docker compose config shows the same error) and run the command again',
    );
  if (!isMap(doc.contents) || !doc.contents.items.some((p) => isScalar(p.key) && p.key.value === 'services'))
    throw invalid(`${file}: no services: mapping`, 'point the command at a docker-compose.yml with services');
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    throw invalid(`${file}: ${(err as Error).message}`, 'expand the aliases of this file, or simplify it');
  }
  const root = value as Record<string, unknown>;
  if (!isMapping(root.services) || Object.keys(root.services).length === 0)
    throw invalid(
      `${file}: services: expected a mapping of one or more services`,
      'each service is name: { image: ... }',
    );
  return root;
}

/**
 * Interpolation variables: the `.env` file next to the compose file, as compose reads it. The
 * shell's environment is not read, so the output does not depend on who runs the import and
 * never carries a variable of theirs it was not asked for.
 */
export function readVariables(dir: string, warn: Warnings): Map<string, string> {
  const vars = new Map<string, string>();
  const read = readInside(dir, '.env');
  if (!read.ok) {
    if (!read.missing) warn.notMapped('.env', read.why);
    return vars;
  }
  const parsed = parseDotenv(read.text);
  for (const line of parsed.bad) warn.notMapped('.env', `line ${line}: not a KEY=VALUE line`);
  for (const e of parsed.entries) vars.set(e.key, e.value);
  return vars;
}

function invalid(message: string, hint: string): BerthError {
  return new BerthError('invalid', 'invalid_compose', message, { hint });
}
