import { afterSwitch, type PlannedStep, type StepKind } from '../../core/deploy-plan.js';
import { describe } from '../../core/errors.js';
import type { Store } from '../../store/store.js';
import type { StepResult } from '../../core/results.js';

export type StepStatus = 'pending' | 'running' | 'done' | 'failed' | 'undone' | 'undo-failed';

/** One step as the journal keeps it: written before it acts, and after. */
export interface StepRecord {
  readonly kind: StepKind;
  readonly name: string;
  readonly services?: readonly string[];
  status: StepStatus;
  ms?: number;
  error?: string;
  /** What the step needs to be undone (or completed) later, written before it acts. */
  data?: Record<string, unknown>;
}

/**
 * What a step says besides its name, for the step list: a `strategy: recreate` service is down
 * from the moment its old instances stop until traffic switches, and the switch says how long;
 * a release hook of a deployment undone is not undone itself.
 */
export function stepDetail(s: StepRecord): string | undefined {
  const down = s.data?.down;
  if (s.kind === 'wave' && Array.isArray(down) && down.length > 0)
    return `${down.join(', ')} down until the switch (strategy recreate: the old instances stop first)`;
  if (s.kind === 'hook' && s.status === 'undone') return 'what the hook changed stays: a release hook is not undone';
  const downMs = s.data?.downMs as Record<string, number> | undefined;
  if (s.kind === 'switch' && downMs && Object.keys(downMs).length > 0)
    return Object.entries(downMs)
      .map(([service, ms]) => `${service} was down for the switch for ${ms} ms (strategy recreate)`)
      .join('; ');
  return undefined;
}

/** A step as `berth deploy`, `berth releases` and the step stream show it. */
export function stepResult(s: StepRecord): StepResult {
  const detail = stepDetail(s);
  return {
    name: s.name,
    status: s.status,
    ms: s.ms ?? null,
    ...(s.error ? { error: s.error } : {}),
    ...(detail ? { detail } : {}),
  };
}

/** What `run` and `undo` of a step get: the record, and a way to persist intent first. */
export interface StepHandle {
  readonly step: StepRecord;
  note(data: Record<string, unknown>): Promise<void>;
  /** A crash point inside the step (see crashPoint): BERTH_CRASH_AT="<step index>:<point>" fires here. */
  crashPoint(point: string): void;
}

export interface StepRunner {
  run(h: StepHandle): Promise<void>;
  undo(h: StepHandle): Promise<void>;
}

/** The journal as stored in `deployments.steps`: the context needed to resume, and the steps. */
export interface JournalDoc<C> {
  readonly context: C;
  readonly steps: StepRecord[];
}

export function newJournal<C>(context: C, plan: readonly PlannedStep[]): JournalDoc<C> {
  return {
    context,
    steps: plan.map((p) => ({
      kind: p.kind,
      name: p.name,
      ...(p.services ? { services: p.services } : {}),
      status: 'pending' as const,
    })),
  };
}

/**
 * Runs a deployment's steps, each marked running before it acts and done or failed after,
 * persisted at every change. On failure the finished steps (and the one that failed, which
 * may have half-acted) are undone in reverse; an undo that fails is appended to the error,
 * never swallowed. Steps after the switch are completed, not undone.
 */
export class Journal<C> {
  readonly #store: Store;
  readonly #id: number;
  readonly doc: JournalDoc<C>;
  readonly #onChange: (steps: readonly StepRecord[]) => void;

  constructor(
    store: Store,
    id: number,
    doc: JournalDoc<C>,
    onChange: (steps: readonly StepRecord[]) => void = () => {},
  ) {
    this.#store = store;
    this.#id = id;
    this.doc = doc;
    this.#onChange = onChange;
  }

  async save(): Promise<void> {
    await this.#store.deployments.update(this.#id, { steps: JSON.stringify(this.doc) });
    this.#onChange(this.doc.steps);
  }

  /** `index`: the step's, for the crash points inside it; none when undoing or recovering (they never fire then). */
  #handle(step: StepRecord, index?: number): StepHandle {
    return {
      step,
      note: async (data) => {
        step.data = { ...step.data, ...data };
        await this.save();
      },
      crashPoint: (point) => {
        if (index !== undefined) crashPoint(index, point);
      },
    };
  }

  /**
   * Runs every pending step. Returns the error that failed the deployment, if any. `recovering`: completing one a dead
   * berthd left (BERTH_CRASH_AT does not fire then).
   */
  async run(runner: StepRunner, recovering = false): Promise<{ error?: string; warnings: string[] }> {
    const warnings: string[] = [];
    for (const [i, step] of this.doc.steps.entries()) {
      if (step.status !== 'pending' && step.status !== 'running') continue;
      const t0 = Date.now();
      step.status = 'running';
      await this.save();
      if (!recovering) crashPoint(i, 'before');
      try {
        await runner.run(this.#handle(step, recovering ? undefined : i));
        step.status = 'done';
      } catch (err) {
        step.status = 'failed';
        step.error = describe(err);
      }
      step.ms = Date.now() - t0;
      await this.save();
      if (!recovering) crashPoint(i, 'after');
      if (step.status === 'failed') {
        if (afterSwitch(step.kind)) {
          warnings.push(`${step.name}: ${step.error}`);
          continue;
        }
        return { error: await this.undo(runner, `${step.name}: ${step.error}`), warnings };
      }
    }
    return { warnings };
  }

  /** Undoes done, failed and running steps in reverse. Returns `error` with undo failures appended. */
  async undo(runner: StepRunner, error: string): Promise<string> {
    let message = error;
    for (const step of [...this.doc.steps].reverse()) {
      if (step.status !== 'done' && step.status !== 'failed' && step.status !== 'running') continue;
      if (afterSwitch(step.kind)) continue;
      try {
        await runner.undo(this.#handle(step));
        if (step.status !== 'failed') step.status = 'undone'; // the failed step keeps saying so; its leftovers are gone
      } catch (err) {
        step.status = 'undo-failed';
        message += `; additionally, undoing "${step.name}": ${describe(err)}`;
      }
      await this.save();
    }
    return message;
  }

  /** True once traffic moved to the new release. */
  switched(): boolean {
    return this.doc.steps.some((s) => s.kind === 'switch' && s.status === 'done');
  }
}

/**
 * Fault injection for the crash-recovery tests: BERTH_CRASH_AT="<step index>:<before|after>" (or a point
 * inside the step, as the step names it: StepHandle.crashPoint) kills this berthd with SIGKILL at that point of every deployment it starts, not of one it completes after a
 * restart: so a test restarts berthd armed for its next point in one go. Unset in normal use.
 */
function crashPoint(index: number, when: string): void {
  if (process.env.BERTH_CRASH_AT === `${index}:${when}`) process.kill(process.pid, 'SIGKILL');
}
