import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { BerthError } from '../core/errors.js';
import { deepFreeze } from '../core/freeze.js';
import { manifestSchema } from './manifest-schema.js';
import { describeValue, locate, ruleFor, valueAt, type Problem } from './manifest-errors.js';
import { manifestProblems } from './manifest-problems.js';
import { normalize } from './manifest-normalize.js';
import type { Manifest } from './manifest-types.js';

export const MANIFEST_FILE = 'berth.yaml';

/** Thrown for an invalid manifest; `message` holds every problem, one per line, with its place. */
export class ManifestError extends BerthError {
  readonly problems: readonly string[];
  constructor(file: string, problems: readonly string[]) {
    super('invalid', 'invalid_manifest', problems.join('\n'), {
      hint: `fix ${file} and run the command again`,
      details: { file, problems },
    });
    this.problems = problems;
  }
}

/** Reads `<dir>/berth.yaml` (or the file itself when given a file). */
export async function loadManifest(fileOrDir: string): Promise<{ manifest: Manifest; file: string; dir: string }> {
  const file =
    fileOrDir.endsWith('.yaml') || fileOrDir.endsWith('.yml') ? fileOrDir : path.join(fileOrDir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
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
  return { manifest: parseManifest(text, file), file: path.resolve(file), dir: path.dirname(path.resolve(file)) };
}

/** Parses and validates manifest text. `file` is only used in messages. */
export function parseManifest(text: string, file: string): Manifest {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => {
      const pos = counter.linePos(e.pos[0]);
      return `${file}:${pos.line}:${pos.col}: YAML syntax: ${e.message.split('\n')[0]}\n  hint: check indentation and quoting near this line`;
    });
    throw new ManifestError(file, lines);
  }
  const input: unknown = doc.toJS();
  if (input === null || input === undefined || typeof input !== 'object' || Array.isArray(input)) {
    throw new ManifestError(file, [
      `${file}:1:1: expected a mapping with "app" and "services", got ${describeValue(input)}\n  hint: a berth.yaml looks like: app: myapp, then services: { web: { run: node server.js } }`,
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
