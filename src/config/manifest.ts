import { open } from 'node:fs/promises';
import path from 'node:path';
import { BerthError } from '../core/errors.js';
import { deepFreeze } from '../core/freeze.js';
import { manifestSchema } from './manifest-schema.js';
import { describeValue, locate, valueAt, type Problem } from './manifest-errors.js';
import { ruleFor } from './manifest-rules.js';
import { manifestProblems } from './manifest-problems.js';
import { normalize } from './manifest-normalize.js';
import type { Manifest } from './manifest-types.js';
import { MANIFEST_MAX_BYTES, readYaml } from './manifest-yaml.js';
import {
  DEFAULT_MANIFEST_LIMITS,
  MANIFEST_FILE,
  ManifestError,
  type ManifestLimits,
  type ManifestParse,
} from './manifest-basics.js';

export {
  DEFAULT_MANIFEST_LIMITS,
  DEFAULT_MAX_SERVICES,
  MANIFEST_FILE,
  ManifestError,
  type ManifestLimits,
  type ManifestParse,
} from './manifest-basics.js';

/** Reads `<dir>/berth.yaml` (or the file itself when given a file); a file over the size limit is not read. */
export async function loadManifest(
  fileOrDir: string,
  parse: ManifestParse = parseManifest,
): Promise<{ manifest: Manifest; file: string; dir: string }> {
  const file =
    fileOrDir.endsWith('.yaml') || fileOrDir.endsWith('.yml') ? fileOrDir : path.join(fileOrDir, MANIFEST_FILE);
  let text: string;
  try {
    const fd = await open(file, 'r');
    try {
      // One byte over the limit is enough for the parser to refuse it.
      const buf = Buffer.alloc(Math.min((await fd.stat()).size, MANIFEST_MAX_BYTES + 1));
      const { bytesRead } = await fd.read(buf, 0, buf.length, 0);
      text = buf.subarray(0, bytesRead).toString('utf8');
    } finally {
      await fd.close();
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new BerthError(
      'invalid',
      'manifest_missing',
      `cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : code}`,
      {
        hint: 'run the command in (or point it at) a directory with a berth.yaml',
      },
    );
  }
  return { manifest: await parse(text, file), file: path.resolve(file), dir: path.dirname(path.resolve(file)) };
}

/**
 * Parses and validates manifest text, in time linear in its size (see `readYaml`). `file` is
 * only used in messages. A manifest with more services than `limits` allows is refused before
 * its services are validated.
 */
export function parseManifest(text: string, file: string, limits: ManifestLimits = DEFAULT_MANIFEST_LIMITS): Manifest {
  const read = readYaml(text, file);
  if (!read.ok) throw new ManifestError(file, read.problems);
  const { doc, counter } = read;
  const input: unknown = doc.toJS();
  if (input === null || input === undefined || typeof input !== 'object' || Array.isArray(input)) {
    throw new ManifestError(file, [
      `${file}:1:1: expected a mapping with "app" and "services", got ${describeValue(input)}\n  hint: a berth.yaml looks like: app: myapp, then services: { web: { run: node server.js } }`,
    ]);
  }
  const services = (input as { services?: unknown }).services;
  const count = services !== null && typeof services === 'object' ? Object.keys(services).length : 0;
  if (count > limits.maxServices) {
    const pos = locate(doc, counter, ['services'], true);
    throw new ManifestError(file, [
      formatProblem(
        file,
        {
          path: ['services'],
          message: `${count} services, more than the ${limits.maxServices} this host allows in one app`,
          hint: 'split the app in several; or, on the host, raise max_services in config.yaml (berth config set max_services <n>)',
        },
        pos,
        input,
      ),
    ]);
  }
  const problems = manifestProblems(input);
  if (problems.length > 0) {
    const located = problems.map((p) => ({ p, pos: locate(doc, counter, p.path, p.atKey ?? false) }));
    located.sort((a, b) => (a.pos?.line ?? 0) - (b.pos?.line ?? 0) || (a.pos?.col ?? 0) - (b.pos?.col ?? 0));
    throw new ManifestError(
      file,
      located.map(({ p, pos }) => formatProblem(file, p, pos, input)),
    );
  }
  return deepFreeze(normalize(manifestSchema.parse(input)));
}

function formatProblem(
  file: string,
  p: Problem,
  pos: { line: number; col: number } | undefined,
  input: unknown,
): string {
  const where = pos ? `${file}:${pos.line}:${pos.col}` : file;
  const key = p.path.length > 0 ? `${p.path.join('.')}: ` : '';
  const got = p.showGot ? `, got ${describeValue(valueAt(input, p.path))}` : '';
  const hint = p.hint ?? ruleFor(p.path)?.hint;
  return `${where}: ${key}${p.message}${got}${hint ? `\n  hint: ${hint}` : ''}`;
}
