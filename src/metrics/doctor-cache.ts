import type { Finding, Severity } from '../doctor/finding.js';

/** Findings by severity of one doctor run, and when it finished. */
export interface DoctorSummary {
  readonly at: number;
  readonly counts: Readonly<Record<Severity, number>>;
}

/**
 * The last host-wide doctor run (`berth doctor`), for /metrics: a scrape reports it and never
 * runs doctor itself (a full run reads the host and asks the edge and the engine).
 */
export class DoctorCache {
  #last: DoctorSummary | undefined;

  /** `run`, remembering what each host-wide run found (`full` is one too: the alert rules' run). */
  wrap<T extends { readonly findings: Finding[] }>(
    run: ((app?: string) => Promise<Finding[]>) & { readonly full: () => Promise<T> },
  ): ((app?: string) => Promise<Finding[]>) & { readonly full: () => Promise<T> } {
    const record = (findings: readonly Finding[]) => {
      const counts = { error: 0, warning: 0, info: 0 };
      for (const f of findings) counts[f.severity]++;
      this.#last = { at: Date.now(), counts };
    };
    const wrapped = async (app?: string) => {
      const findings = await run(app);
      if (app === undefined) record(findings);
      return findings;
    };
    const full = async () => {
      const result = await run.full();
      record(result.findings);
      return result;
    };
    return Object.assign(wrapped, { full });
  }

  get last(): DoctorSummary | undefined {
    return this.#last;
  }
}
