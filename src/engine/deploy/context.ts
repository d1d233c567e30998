import type { Manifest } from '../../config/manifest-types.js';
import type { StepRecord } from './journal.js';

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

/** What `berth deploy`, `berth up` and a webhook ask of the Deployer. */
export interface DeployRequest {
  readonly dir: string;
  /** Default: the branch's environment when the manifest declares environments, else "production". */
  readonly env?: string | undefined;
  readonly ref?: string | undefined;
  /** Deploy this branch (archived from the repository) into the environment that accepts it. */
  readonly branch?: string | undefined;
  /** With `branch`: the ref holding its commit, when not refs/heads/<branch> (a webhook deploys what it fetched). */
  readonly branchRef?: string | undefined;
  /** A new app may take over the data an earlier app of that name left (`berth rm` without --purge): root on the host only. */
  readonly adoptKeptData?: boolean | undefined;
  /** Refuse when the source's manifest names another app (a redeploy of a registered app, a webhook). */
  readonly expectApp?: string | undefined;
  /** The organisation a new app goes into (default "default"); an existing app stays in its own. */
  readonly org?: string | undefined;
  /** Wait for a running deployment of the same environment instead of failing at once. */
  readonly wait?: boolean;
  /** Deploy although pre-flight found errors; the result lists what was ignored. */
  readonly force?: boolean;
  /** Build everything afresh (`berth deploy --no-cache`): no build output of an earlier release is reused, images are built with every step; deploys even when nothing changed. */
  readonly noCache?: boolean;
  readonly onStep?: (steps: readonly StepRecord[]) => void;
}

export interface RollbackRequest {
  readonly app: string;
  readonly env: string;
  /** Release number; default: the one before the current. */
  readonly release?: number | undefined;
  readonly wait?: boolean;
  readonly onStep?: (steps: readonly StepRecord[]) => void;
}
