import { compareText } from '../core/names.js';

/** How bad a finding is: errors break something now, warnings will, info is housekeeping. */
export type Severity = 'error' | 'warning' | 'info';

/** One thing `berth doctor` found: what, where, in plain words, and the command that fixes it. */
export interface Finding {
  readonly severity: Severity;
  readonly code: string;
  readonly app?: string;
  readonly env?: string;
  readonly service?: string;
  readonly message: string;
  readonly fix?: string;
  /** A deploy repairs it (a dead instance, a route without a healthy upstream): pre-flight lets it pass. */
  readonly deployFixes?: boolean;
}

const RANK: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

export function sortFindings(findings: readonly Finding[]): Finding[] {
  return [...findings].sort(
    (a, b) =>
      compareText(a.app ?? '', b.app ?? '') || // no app (the host's own) first
      RANK[a.severity] - RANK[b.severity] ||
      compareText(a.code, b.code) ||
      compareText(a.message, b.message),
  );
}

/** Exit code of `berth doctor`: 0 clean, 1 warnings, 2 errors (info never fails). */
export function exitCode(findings: readonly Finding[]): number {
  if (findings.some((f) => f.severity === 'error')) return 2;
  if (findings.some((f) => f.severity === 'warning')) return 1;
  return 0;
}
