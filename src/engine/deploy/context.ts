import type { Manifest } from '../../config/manifest-types.js';

/** What a deployment's steps share; persisted in its journal so recovery can finish or undo it. */
export interface DeployContext {
  readonly app: string;
  readonly env: string;
  readonly environmentId: number;
  /** True when this deployment created the app: a failure removes it entirely. */
  readonly createdApp: boolean;
  /** The app was registered before (its secrets set first) and stays so, with its secrets, when this deploy fails. */
  readonly registeredApp?: boolean;
  /** A new app that found data of an earlier one of its name, and keeps it whatever happens. */
  readonly keptData?: boolean;
  /** True when this deployment created the environment (a preview's first deploy): a failure removes it. */
  readonly createdEnv?: boolean;
  /** A new environment's data dir starts as a copy of this environment's. */
  readonly copyDataFrom?: string;
  /** The manifest; its container services with `build:` get the image built for them (build step). */
  manifest: Manifest;
  /** `berth deploy --no-cache`: nothing of an earlier release's build is reused; images are built with every step afresh. */
  readonly noCache?: boolean;
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
