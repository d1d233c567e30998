import type { Manifest } from '../../config/manifest-types.js';

/** What a deployment's steps share; persisted in its journal so recovery can finish or undo it. */
export interface DeployContext {
  readonly app: string;
  readonly env: string;
  readonly environmentId: number;
  /** True when this deployment created the app: a failure removes it entirely. */
  readonly createdApp: boolean;
  /** A new app that found data of an earlier one of its name, and keeps it whatever happens. */
  readonly keptData?: boolean;
  /** True when this deployment created the environment (a preview's first deploy): a failure removes it. */
  readonly createdEnv?: boolean;
  /** A new environment's data dir starts as a copy of this environment's. */
  readonly copyDataFrom?: string;
  readonly manifest: Manifest;
  readonly release: { readonly number: number; readonly dir: string; id?: number };
  readonly previous: { readonly id: number; readonly number: number } | undefined;
  /** `strategy: recreate` services whose old instances were stopped, and when (ms since the epoch). */
  down?: Record<string, number>;
  readonly source: {
    readonly dir: string;
    readonly ref?: string | undefined;
    readonly digest: string;
    readonly branch?: string;
  };
}

/** A step as reported to users: `berth deploy --json`, `berth releases`. */
export interface StepResult {
  readonly name: string;
  readonly status: string;
  readonly ms: number | null;
  readonly error?: string;
  /** What else the step has to say: a recreate service's downtime. */
  readonly detail?: string;
}

/** The outcome of a deployment, never an implicit flag. */
export interface DeployResult {
  readonly id: number | null;
  readonly app: string;
  readonly env: string;
  readonly kind: 'deploy' | 'rollback';
  readonly release: number | null;
  /** 'unchanged': the source and manifest equal the current release's; nothing ran. */
  readonly status: 'succeeded' | 'failed' | 'interrupted' | 'unchanged' | 'running';
  readonly steps: readonly StepResult[];
  readonly error?: string;
  readonly warnings?: readonly string[];
}
