import type { Command } from 'commander';
import type { CommandOutcome } from './daemon-install.js';

// daemon-install.js (and the settings schema it reads variables from) loads only when one of these runs: every other CLI call starts without it.
const SYSTEM_UNIT_DIR = '/etc/systemd/system';
const unitModule = () => import('./daemon-install.js');

type Print = (value: unknown, human: () => string) => void;

/** `berth daemon install|uninstall`: berthd's systemd unit. Local files only: no berthd is needed. */
export function registerDaemonUnitCommands(daemon: Command, deps: { home: string; print: Print }): void {
  const dirHelp = `directory of the unit (default $BERTH_SYSTEMD_DIR, else ${SYSTEM_UNIT_DIR})`;
  daemon
    .command('install')
    .description('write a systemd unit that starts berthd at boot (and restarts it if it fails); prints it')
    .option('--dry-run', 'print the unit without writing it')
    .option('--unit-dir <dir>', dirHelp)
    .option('--json', 'print JSON')
    .action(async (opts: { dryRun?: boolean; unitDir?: string }) => {
      const { installUnit, unitDir } = await unitModule();
      const r = await installUnit({ dir: unitDir(opts.unitDir), home: deps.home, dryRun: Boolean(opts.dryRun) });
      deps.print(r, () =>
        [
          `${r.written ? 'wrote' : 'would write (--dry-run: nothing written)'} ${r.path}:`,
          '',
          r.unit,
          ...ran(r.ran),
          ...r.next,
        ].join('\n'),
      );
    });
  daemon
    .command('uninstall')
    .description('disable and remove the systemd unit that `berth daemon install` wrote')
    .option('--unit-dir <dir>', dirHelp)
    .option('--json', 'print JSON')
    .action(async (opts: { unitDir?: string }) => {
      const { uninstallUnit, unitDir } = await unitModule();
      const r = await uninstallUnit({ dir: unitDir(opts.unitDir) });
      deps.print(r, () => [...r.removed.map((f) => `removed ${f}`), ...ran(r.ran), ...r.next].join('\n'));
    });
}

function ran(outcomes: readonly CommandOutcome[]): string[] {
  return outcomes.map((o) => `${o.ok ? 'ran' : 'FAILED'}: ${o.command}${o.output ? `\n  ${o.output}` : ''}`);
}
