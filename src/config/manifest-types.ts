/** The frozen, normalised form of a berth.yaml. Durations are milliseconds; defaults applied. */
export interface Manifest {
  readonly app: string;
  /** Services in manifest order. */
  readonly services: readonly ServiceSpec[];
}

export type RestartPolicy = 'always' | 'on-failure' | 'never';

export interface ServiceSpec {
  readonly name: string;
  /** The argv to execute: `["sh", "-c", <run>]` for a string, the list itself otherwise. */
  readonly argv: readonly string[];
  /** Working directory relative to the app's source root ("." by default). */
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly port: 'auto' | number;
  readonly restart: RestartPolicy;
  readonly dependsOn: readonly string[];
  readonly instances: number;
  readonly stopTimeoutMs: number;
  readonly routes: readonly RouteSpec[];
  readonly health: HealthSpec;
}

export interface RouteSpec {
  readonly host: string;
  /** Path prefix; "/" by default. */
  readonly path: string;
  readonly strip: boolean;
}

export type ProbeSpec =
  | { readonly kind: 'listening' }
  | { readonly kind: 'tcp' }
  | { readonly kind: 'http'; readonly path: string; readonly status: number | undefined };

export interface HealthSpec {
  readonly probe: ProbeSpec;
  readonly startTimeoutMs: number;
  readonly intervalMs: number;
  readonly unhealthyThreshold: number;
}

/** Defaults from DESIGN.md, in one place. */
export const DEFAULTS = Object.freeze({
  stopTimeoutMs: 10_000,
  startTimeoutMs: 60_000,
  healthIntervalMs: 10_000,
  unhealthyThreshold: 3,
});
