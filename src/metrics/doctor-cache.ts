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

  /** `run`, remembering what each host-wide run found. */
  wrap(run: (app?: string) => Promise<Finding[]>): (app?: string) => Promise<Finding[]> {
    return async (app) => {
      const findings = await run(app);
      if (app === undefined) {
        const counts = { error: 0, warning: 0, info: 0 };
        for (const f of findings) counts[f.severity]++;
        this.#last = { at: Date.now(), counts };
      }
      return findings;
    };
  }

  get last(): DoctorSummary | undefined {
    return this.#last;
  }
}
