import type { ApiClient } from '../api/client.js';
import { ApiError } from '../api/client.js';
import { renderPs } from './render.js';
import type { DeployResult, InstanceStatus } from '../core/results.js';

/** What printing a deployment's outcome needs: the CLI's whole (main.ts) and its deploy fast path (deploy-fast.ts). */
export interface OutputIo {
  readonly client: Pick<ApiClient, 'call'>;
  readonly print: (value: unknown, human: () => string) => void;
  readonly json: () => boolean;
}

export const MARK: Record<string, string> = {
  done: 'ok  ',
  failed: 'FAIL',
  undone: 'undo',
  'undo-failed': 'UNDO FAILED',
  running: '... ',
  pending: '    ',
};

function summary(r: DeployResult): string {
  if (r.status === 'unchanged') return `${r.app} (${r.env}): release ${r.release} is current and nothing changed`;
  const total = r.steps.reduce((n, s) => n + (s.ms ?? 0), 0);
  const notes = r.steps.filter((x) => x.detail !== undefined);
  if (r.status === 'succeeded')
    return `${r.app} (${r.env}): release ${r.release} is live (${r.kind} #${r.id}, ${total} ms)${notes.map((x) => `\n  ${x.name}: ${x.detail}`).join('')}${r.warnings?.length ? `\nwarnings:\n  ${r.warnings.join('\n  ')}` : ''}`;
  return `${r.app} (${r.env}): ${r.kind} #${r.id} ${r.status}; nothing changed\n${r.error ?? ''}`;
}

/** Prints a deployment's result (JSON, or a summary and the environment's instances); a failed one exits 1. */
export async function finish(io: OutputIo, r: DeployResult): Promise<void> {
  const ok = r.status === 'succeeded' || r.status === 'unchanged';
  if (!ok) process.exitCode = 1;
  if (io.json()) return io.print(r, () => '');
  if (!ok) {
    const steps = r.steps.map((s) => `  ${MARK[s.status] ?? s.status} ${s.name}`).join('\n');
    process.stderr.write(
      `error: ${r.kind} #${r.id} of ${r.app} (${r.env}) ${r.status}; nothing changed: ${r.error ?? ''}\nsteps:\n${steps}\n`,
    );
    return;
  }
  const rows = await io.client.call<InstanceStatus[]>(
    'GET',
    `/v1/apps/${encodeURIComponent(r.app)}/instances?env=${encodeURIComponent(r.env)}`,
  );
  io.print(r, () => [summary(r), ...(rows.length ? [renderPs(rows.filter((x) => x.env === r.env))] : [])].join('\n'));
}

/** A command that failed: its error as JSON on stdout with --json, else on stderr with its hint; exit code 1. */
export function reportError(err: unknown, json: boolean): void {
  const e = err instanceof ApiError ? err : new ApiError(0, 'error', err instanceof Error ? err.message : String(err));
  if (json)
    process.stdout.write(
      JSON.stringify({ error: { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) } }, null, 2) +
        '\n',
    );
  else process.stderr.write(`error: ${e.message}\n${e.hint ? `  hint: ${e.hint}\n` : ''}`);
  process.exitCode = 1;
}
