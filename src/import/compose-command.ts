import path from 'node:path';
import { importCompose } from './compose-import.js';
import { checkImported } from './import-check.js';
import { formatWarning } from './import-warnings.js';
import { readLocalFile } from './local-file.js';
import { writeNewFile } from './write-new.js';

export interface ComposeCommandOptions {
  readonly app?: string;
  readonly out?: string;
  readonly force?: boolean;
  /** Print `{ app, berthYaml, warnings: [{ path, message }], written }` as JSON instead. */
  readonly json?: boolean;
}

/**
 * `berth import compose FILE`: the berth.yaml on stdout (or in --out), and on stderr every
 * warning, one per line as `<compose key path>: <what happened>`. Local files only: no berthd.
 */
export function runComposeImport(file: string, opts: ComposeCommandOptions): void {
  const text = readLocalFile(file, 'a docker-compose.yml (or compose.yaml)');
  const result = importCompose(text, {
    file,
    dir: path.dirname(path.resolve(file)),
    ...(opts.app !== undefined ? { app: opts.app } : {}),
  });
  const warnings = [...result.warnings];
  for (const problem of checkImported(result.manifest).problems)
    warnings.push({ path: 'berth.yaml', message: `does not pass Berth's validation: ${problem}` });
  if (opts.out !== undefined) writeNewFile(opts.out, result.yaml, Boolean(opts.force));
  if (opts.json) {
    const written = opts.out ?? null;
    process.stdout.write(
      JSON.stringify({ app: result.manifest.app, berthYaml: result.yaml, warnings, written }, null, 2) + '\n',
    );
    return;
  }
  if (opts.out === undefined) process.stdout.write(result.yaml);
  const lines = warnings.map(formatWarning);
  if (lines.length > 0) process.stderr.write(lines.join('\n') + '\n');
  if (opts.out !== undefined)
    process.stderr.write(`wrote ${opts.out}${lines.length > 0 ? ` (${lines.length} warnings above)` : ''}\n`);
}
