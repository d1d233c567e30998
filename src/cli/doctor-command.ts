import type { Command } from 'commander';
import type { ApiClient } from '../api/client.js';
import { exitCode, type Finding } from '../doctor/finding.js';

const LABEL: Record<string, string> = { error: 'ERROR', warning: 'WARN ', info: 'INFO ' };

/** Findings grouped by app (host-wide ones last), each with its fix. */
export function renderFindings(findings: readonly Finding[]): string {
  if (findings.length === 0) return 'doctor: everything Berth runs is where it should be';
  const groups = new Map<string, Finding[]>();
  for (const f of findings) groups.set(f.app ?? '(host)', [...(groups.get(f.app ?? '(host)') ?? []), f]);
  const out: string[] = [];
  for (const [app, list] of groups) {
    out.push(app);
    for (const f of list) {
      out.push(
        `  ${LABEL[f.severity]} ${f.code}${f.service ? ` [${f.service}]` : ''}: ${f.message.replace(/\n/g, '\n  ')}`,
      );
      if (f.fix) out.push(`         fix: ${f.fix}`);
    }
  }
  const count = (s: string) => findings.filter((f) => f.severity === s).length;
  out.push('', `${count('error')} error(s), ${count('warning')} warning(s), ${count('info')} note(s)`);
  return out.join('\n');
}

export function registerDoctorCommand(
  program: Command,
  io: { client: ApiClient; ready: () => Promise<void>; print: (v: unknown, human: () => string) => void },
): void {
  program
    .command('doctor')
    .description(
      'compare what should run with what does: routes, instances, ports, leftovers; exit 0 clean, 1 warnings, 2 errors',
    )
    .argument('[app]')
    .option('--json', 'print { findings: [...] }')
    .action(async (app?: string) => {
      await io.ready();
      const r = await io.client.call<{ findings: Finding[] }>(
        'GET',
        app ? `/v1/apps/${encodeURIComponent(app)}/doctor` : '/v1/doctor',
      );
      io.print(r, () => renderFindings(r.findings));
      process.exitCode = exitCode(r.findings);
    });
}
