import type { Manifest } from '../config/manifest-types.js';
import { BerthError } from './errors.js';
import { dependencyWaves } from './waves.js';

/** What a step of a deployment does; each kind has one implementation and one undo. */
export type StepKind =
  'snapshot' | 'pull' | 'build' | 'release' | 'data' | 'hook' | 'wave' | 'switch' | 'drain' | 'retire' | 'prune';

export interface PlannedStep {
  readonly kind: StepKind;
  readonly name: string;
  /** For 'wave': the services started in it (in dependency order across waves); for 'hook': the service whose hook runs. */
  readonly services?: readonly string[];
}

export interface PlanInput {
  readonly manifest: Manifest;
  /** The release number this deployment creates or makes current. */
  readonly release: number;
  /** The release serving now, if any. */
  readonly previous: number | undefined;
  /** False for a rollback: the release exists, nothing to snapshot or build. */
  readonly fresh: boolean;
  /** A new environment whose data dir starts as a copy of this environment's. */
  readonly copyDataFrom?: string | undefined;
  /** The services of the release serving now (their recreate services start last). Default none. */
  readonly running?: readonly string[] | undefined;
}

/**
 * A deployment's plan, fixed before anything runs: snapshot, build, record the release,
 * start its managed databases when a release hook runs (so the hook reaches them), run the release hooks
 * (a new release only: a rollback runs none), start the services wave by wave along depends_on (each wave healthy before the next),
 * switch traffic, then drain, stop and prune what the new release replaced. The switch
 * is the point of no return: before it every step is undone on failure; after it the
 * deployment is completed instead. Recreate services that run now start last, after every
 * other wave is healthy: stopping them is the one thing a deploy does to what serves, so a
 * failure elsewhere never touches them (meanwhile their old instances serve their dependents).
 * Pure: no IO.
 */
export function planDeploy(input: PlanInput): PlannedStep[] {
  const { manifest, release, previous } = input;
  const running = new Set(input.running ?? []);
  const late = (s: Manifest['services'][number]) => s.strategy === 'recreate' && running.has(s.name);
  const waves = [
    ...serviceWaves(manifest.services.filter((s) => !late(s))),
    ...serviceWaves(manifest.services.filter(late)),
  ];
  const steps: PlannedStep[] = [];
  if (input.fresh) {
    steps.push({ kind: 'snapshot', name: `snapshot source as release ${release}` });
    const pulled = manifest.services.filter((s) => s.container?.image && !s.container.build).map((s) => s.name);
    if (pulled.length > 0) steps.push({ kind: 'pull', name: `pull images of ${pulled.join(', ')}` });
    const built = manifest.services.filter((s) => needsBuild(s) || s.container?.build).map((s) => s.name);
    if (built.length > 0) steps.push({ kind: 'build', name: `build ${built.join(', ')}` });
    steps.push({ kind: 'release', name: `record release ${release}` });
  }
  if (input.copyDataFrom !== undefined) steps.push({ kind: 'data', name: `copy data from ${input.copyDataFrom}` });
  // Release hooks (migrations) see the data the new release will run on, copied or not, before anything of it starts
  // but its managed databases (they depend on nothing): those start first, healthy, so a hook gets DATABASE_URL.
  const hooks = input.fresh ? manifest.services.filter((s) => s.release !== null && s.kind === 'process') : [];
  const early = new Set(
    hooks.length > 0
      ? manifest.services.filter((s) => s.kind === 'postgres' || s.kind === 'redis').map((s) => s.name)
      : [],
  );
  let n = 0;
  if (early.size > 0)
    steps.push({ kind: 'wave', name: `start wave ${++n}: ${[...early].join(', ')}`, services: [...early] });
  for (const s of hooks) steps.push({ kind: 'hook', name: `run release hook of ${s.name}`, services: [s.name] });
  const processes = new Set(
    manifest.services.filter((s) => s.kind !== 'static' && !early.has(s.name)).map((s) => s.name),
  );
  for (const wave of waves) {
    const services = wave.filter((name) => processes.has(name));
    if (services.length > 0) steps.push({ kind: 'wave', name: `start wave ${++n}: ${services.join(', ')}`, services });
  }
  steps.push({ kind: 'switch', name: `switch traffic to release ${release}` });
  if (previous !== undefined) {
    steps.push({ kind: 'drain', name: `drain release ${previous}` });
    steps.push({ kind: 'retire', name: `stop release ${previous}` });
  }
  steps.push({ kind: 'prune', name: 'prune old releases' });
  return steps;
}

/** A service built in the release: build commands, or dependencies to install (`deps:`, resolved by the deploy). */
export function needsBuild(s: Manifest['services'][number]): boolean {
  return s.build.length > 0 || s.deps === 'python' || s.deps === 'node';
}

/** Dependency waves of some services (dependencies outside them are already running). */
function serviceWaves(services: Manifest['services']): string[][] {
  const waves = dependencyWaves(services.map((s) => ({ name: s.name, dependsOn: s.dependsOn })));
  if (!waves.ok) throw new BerthError('invalid', 'dependency_cycle', `dependency cycle: ${waves.cycle.join(' -> ')}`);
  return waves.waves;
}

/** True for the steps that run after traffic moved: they are completed, never undone. */
export function afterSwitch(kind: StepKind): boolean {
  return kind === 'drain' || kind === 'retire' || kind === 'prune';
}
