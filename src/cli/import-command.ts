import type { Command } from 'commander';
import { ApiError } from '../api/client.js';
import { BerthError } from '../core/errors.js';

// The importer (yaml, zod for the check) loads only when `berth import` runs.
const importer = () => import('../import/compose-command.js');

/** `berth import compose FILE`: a berth.yaml from a docker-compose.yml. Local files only: no berthd is needed. */
export function registerImportCommands(program: Command): void {
  const imp = program.command('import').description("make a berth.yaml from another tool's files");
  imp
    .command('compose')
    .description(
      'print a berth.yaml for a docker-compose.yml; everything it cannot map is listed on stderr with its compose key path',
    )
    .argument('<file>', 'the compose file, e.g. docker-compose.yml')
    .option('--app <name>', "the app's name (default: the compose file's name:, else its directory's)")
    .option('--out <file>', 'write the berth.yaml there instead of printing it (never over an existing file)')
    .option('--force', 'with --out: replace the file if it exists')
    .option('--json', 'print JSON: { app, berthYaml, warnings: [{ path, message }], written }')
    .action(async (file: string, opts: { app?: string; out?: string; force?: boolean; json?: boolean }) => {
      const { runComposeImport } = await importer();
      try {
        runComposeImport(file, opts);
      } catch (err) {
        if (err instanceof BerthError) throw new ApiError(0, err.code, err.message, err.hint);
        throw err;
      }
    });
}
