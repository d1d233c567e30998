import type { Command } from 'commander';
import { ApiError } from '../api/client.js';
import { BerthError } from '../core/errors.js';

// The importer (yaml, zod for the check) loads only when `berth import` runs.
const importer = () => import('../import/compose-command.js');
const processImporter = () => import('../import/process-command.js');

/** Runs an importer, its errors as the CLI's. */
async function run(fn: () => void | Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof BerthError) throw new ApiError(0, err.code, err.message, err.hint);
    throw err;
  }
}

const WRITE = 'write DIR/<app>/berth.yaml and DIR/CHECKLIST-<tool>.txt (an existing berth.yaml only with --force)';

/**
 * `berth import compose|pm2|procfile|systemd|nginx|caddy`: berth.yaml files from another tool's files, and a
 * migration checklist. Local files only: no berthd is needed.
 */
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
  imp
    .command('pm2')
    .description('berth.yaml files for PM2 apps (an ecosystem file, or the running PM2), and a migration checklist')
    .argument('[file]', 'ecosystem.config.js (or .json/.yaml)')
    .option('--running', 'read the live PM2 (pm2 jlist) instead of a file')
    .option('--app <name>', 'put every process in one app of this name')
    .option('--write <dir>', WRITE)
    .option('--force', 'with --write: replace existing berth.yaml files')
    .action((file: string | undefined, opts: { running?: boolean; app?: string; write?: string; force?: boolean }) =>
      run(async () => (await processImporter()).runPm2Import(file, opts)),
    );
  imp
    .command('procfile')
    .description('a berth.yaml for a Procfile (web gets the port, release becomes the release hook)')
    .argument('<file>', 'the Procfile')
    .option('--app <name>', "the app's name (default: the Procfile's directory)")
    .option('--write <dir>', WRITE)
    .option('--force', 'with --write: replace existing berth.yaml files')
    .action((file: string, opts: { app?: string; write?: string; force?: boolean }) =>
      run(async () => (await processImporter()).runProcfileImport(file, opts)),
    );
  imp
    .command('systemd')
    .description('berth.yaml files for systemd service units (ExecStart, WorkingDirectory, Environment(File), User)')
    .argument('<unit...>', 'unit files, e.g. /etc/systemd/system/api.service or site@example.service')
    .option('--app <name>', 'put every unit in one app of this name')
    .option('--write <dir>', WRITE)
    .option('--force', 'with --write: replace existing berth.yaml files')
    .action((units: string[], opts: { app?: string; write?: string; force?: boolean }) =>
      run(async () => (await processImporter()).runSystemdImport(units, opts)),
    );
  imp
    .command('nginx')
    .description('routes from nginx server blocks (server_name, location, proxy_pass), by the port they reach')
    .argument('<conf...>', 'nginx configuration files, e.g. /etc/nginx/sites-enabled/*')
    .option(
      '--into <dir>',
      'add the routes to the services of DIR/*/berth.yaml (from --write) that listen on those ports',
    )
    .action((confs: string[], opts: { into?: string }) =>
      run(async () => (await processImporter()).runNginxImport(confs, opts)),
    );
  imp
    .command('caddy')
    .description(
      'routes from Caddyfile site blocks (addresses, reverse_proxy, handle_path/handle/route), by the port they reach',
    )
    .argument('<caddyfile...>', 'Caddyfiles, e.g. /etc/caddy/Caddyfile (snippets of one may be imported by another)')
    .option(
      '--into <dir>',
      'add the routes to the services of DIR/*/berth.yaml (from --write) that listen on those ports',
    )
    .action((files: string[], opts: { into?: string }) =>
      run(async () => (await processImporter()).runCaddyImport(files, opts)),
    );
}
