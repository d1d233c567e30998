import { closeSync, constants, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { Manifest, ServiceSpec } from '../../config/manifest-types.js';
import { BerthError, describe } from '../../core/errors.js';
import { parseImageRef } from '../../core/image-ref.js';
import { ContainerEngine, EngineError } from '../../runtime/container-engine.js';
import { inspectImage, pullImage, type EngineImage, type RegistryLogin } from '../../runtime/image-pull.js';
import type { Store } from '../../store/store.js';
import { imageUses } from '../images-view.js';
import { Redactor } from '../../core/redact.js';
import type { DeployContext } from './context.js';
import type { StepHandle } from './journal.js';
import type { StepDeps } from './step-deps.js';

/** The services whose image a deploy may pull: `image:` without a `build:` of their own (a PostgreSQL's `image:` too). */
export function imagePulls(services: readonly ServiceSpec[]): ServiceSpec[] {
  return services.filter(
    (s) => (s.kind === 'container' || s.kind === 'postgres') && s.container?.image && !s.container.build,
  );
}

/** Whether a deploy of `m` pulls an image every time (`pull: always`): then it is never "unchanged". */
export function pullsAlways(m: Manifest): boolean {
  return imagePulls(m.services).some((s) => s.container?.pull === 'always');
}

/** What the engine had under each image name before the pull step (its id, or null): what undoing it puts back. */
export type PullsBefore = Record<string, string | null>;

/**
 * Makes sure the engine has the image of each `image:` service, by its `pull:` policy: pulled
 * when missing, or at every deploy with `pull: always` (the default for `:latest`), with the login
 * its `registry_auth` names from the app's secrets. Progress goes to the release's build log.
 * `noteBefore` is told what each name meant before anything is pulled (the journal keeps it for
 * the undo). Returns each service's image: the id the container runs and its registry digest.
 */
export async function runImagePulls(o: {
  engine: ContainerEngine | undefined;
  services: readonly ServiceSpec[];
  logFile: string;
  app: string;
  env: string;
  secrets: Readonly<Record<string, string>>;
  redact: (text: string) => string;
  noteBefore: (before: PullsBefore) => Promise<void>;
}): Promise<Map<string, EngineImage>> {
  const found = new Map<string, EngineImage>();
  const specs = imagePulls(o.services);
  if (specs.length === 0) return found;
  const logins = new Map(
    specs.map((s) => [s.name, withNextStep(s, () => registryLogin(s, o.secrets, o.app, o.env), o.redact)]),
  );
  const engine = o.engine ?? new ContainerEngine(undefined); // without one: the error naming the setting
  const images = [...new Set(specs.map((s) => s.container?.image as string))];
  const before = new Map(await Promise.all(images.map(async (i) => [i, await inspectImage(engine, i)] as const)));
  await o.noteBefore(Object.fromEntries([...before].map(([i, b]) => [i, b?.id ?? null])));
  const fd = openLog(o.logFile);
  const write = (line: string) => writeSync(fd, `${o.redact(line)}\n`);
  const pulled = new Map<string, EngineImage>();
  try {
    for (const spec of specs) {
      const image = spec.container?.image as string;
      const have = pulled.get(image) ?? (spec.container?.pull === 'always' ? undefined : before.get(image));
      if (have) {
        found.set(spec.name, have);
        continue;
      }
      write(`==> pulling ${image} for ${spec.name} (pull: ${spec.container?.pull ?? 'missing'})`);
      try {
        const got = await pullImage({ engine, image, login: logins.get(spec.name), log: write });
        write(`==> ${image} is ${got.digest ?? got.id}`);
        pulled.set(image, got);
        found.set(spec.name, got);
      } catch (err) {
        write(describe(err));
        throw nextStep(spec, err, o.redact);
      }
    }
  } finally {
    closeSync(fd);
  }
  return found;
}

/** The pull step of a deployment: the images pulled (or found), its manifest's services running them. */
export async function runPullStep(d: PullDeps, c: DeployContext, logFile: string, h: StepHandle): Promise<void> {
  const secrets = (await d.secretEnv?.(c.app, c.env)) ?? {};
  const own = new Redactor(); // its own secrets out of its log and errors (no other app's: see Secrets)
  own.set(Object.values(secrets));
  const found = await runImagePulls({
    engine: d.engine,
    services: c.manifest.services,
    logFile,
    app: c.app,
    env: c.env,
    secrets,
    redact: (t) => own.redact(t),
    noteBefore: (before) => h.note({ before }),
  });
  // In the journal's context (saved by the note), then in the release's manifest: its instances run these ids.
  c.manifest = { ...c.manifest, services: c.manifest.services.map((s) => withPulledImage(s, found.get(s.name))) };
  await h.note({ images: Object.fromEntries([...found].map(([name, i]) => [name, i.digest ?? i.id])) });
}

/** Its undo, after the release's (whose instances are gone): names moved back, images pulled removed if unused. */
export async function undoPullStep(d: PullDeps, h: StepHandle): Promise<void> {
  for (const kept of await undoImagePulls(d.engine, d.store, h.step.data?.before as PullsBefore | undefined))
    d.log.warn({ image: kept }, 'an image pulled by a deployment undone was left');
}

type PullDeps = Pick<StepDeps, 'engine' | 'secretEnv' | 'store' | 'log'>;

/** `spec` running the image the pull step found: `imageId` the engine's id of it, `digest` its registry digest. */
export function withPulledImage(spec: ServiceSpec, image: EngineImage | undefined): ServiceSpec {
  if (!image || !spec.container) return spec;
  const digest = image.digest !== undefined ? { digest: image.digest } : {};
  return { ...spec, container: { ...spec.container, imageId: image.id, ...digest } };
}

/**
 * Undoes a pull step: each name the pull moved points again at the image it named before, and the
 * image pulled is removed unless a recorded release (of any app) runs it or the engine still uses
 * it. Returns what stayed, and why.
 */
export async function undoImagePulls(
  engine: ContainerEngine | undefined,
  store: Store,
  before: PullsBefore | undefined,
): Promise<string[]> {
  const kept: string[] = [];
  if (!engine || !before) return kept;
  for (const [image, was] of Object.entries(before)) {
    try {
      const now = await inspectImage(engine, image);
      if (!now || now.id === was) continue;
      const ref = parseImageRef(image);
      if (was !== null && ref.tag !== undefined && ref.digest === undefined)
        await engine
          .call(
            'POST',
            `/images/${encodeURIComponent(was)}/tag?${new URLSearchParams({ repo: ref.repo, tag: ref.tag }).toString()}`,
          )
          .catch((err: unknown) => {
            if (!(err instanceof EngineError && err.status === 404)) throw err; // the old one is gone: nothing to put back
          });
      if ((await store.releases.all()).some((r) => r.manifest.includes(now.id))) continue;
      await engine.call('DELETE', `/images/${encodeURIComponent(now.id)}`);
    } catch (err) {
      if (err instanceof EngineError && err.status === 404) continue;
      kept.push(`${image}: ${describe(err)}`);
    }
  }
  return kept;
}

/**
 * After a release is pruned (its record gone): the images it pulled that no recorded release runs
 * any more and no tag names (the tag moved on with a later pull) are removed, so a moving tag such as
 * `:latest` never fills the disk. An image still tagged stays: the operator may use it by that name
 * (`berth images` lists it). Returns what stayed, and why.
 */
export async function removeStalePulls(
  engine: ContainerEngine | undefined,
  store: Store,
  services: readonly ServiceSpec[],
): Promise<string[]> {
  const ids = imagePulls(services).flatMap((s) => (s.container?.imageId ? [s.container.imageId] : []));
  if (!engine || ids.length === 0) return [];
  const used = await imageUses(store);
  const kept: string[] = [];
  for (const id of new Set(ids)) {
    if (used.has(id)) continue;
    try {
      const { RepoTags } = await engine.call<{ RepoTags?: string[] | null }>('GET', `/images/${id}/json`);
      if ((RepoTags ?? []).some((t) => t !== '<none>:<none>')) continue;
      await engine.call('DELETE', `/images/${id}`);
    } catch (err) {
      if (err instanceof EngineError && err.status === 404) continue;
      kept.push(`${id}: ${describe(err)}`);
    }
  }
  return kept;
}

/** The login of a service's `registry_auth`, from the app's secrets; an error naming a secret that is not set. */
export function registryLogin(
  spec: ServiceSpec,
  secrets: Readonly<Record<string, string>>,
  app: string,
  env: string,
): RegistryLogin | undefined {
  const a = spec.container?.registryAuth;
  if (!a) return undefined;
  const secret = (key: string, name: string): string => {
    const value = secrets[name];
    if (value !== undefined) return value;
    throw new BerthError(
      'invalid',
      'registry_secret_missing',
      `registry_auth.${key} names the secret ${name}, which ${app} does not have (for ${env})`,
      { hint: `set it (the value on stdin): printf %s "$VALUE" | berth secrets set ${app} ${name}` },
    );
  };
  const username = a.usernameSecret !== null ? secret('username_secret', a.usernameSecret) : (a.username ?? '');
  return { username, password: secret('password_secret', a.passwordSecret) };
}

/**
 * A pull's error with what to do in its message: a failed step shows its message only (in `berth
 * deploy`, its journal, `berth releases`), and here the hint is the fix. Redacted: no secret in it.
 */
function nextStep(spec: ServiceSpec, err: unknown, redact: (text: string) => string): unknown {
  if (!(err instanceof BerthError)) return err;
  const what = `service ${spec.name}: ${err.message}${err.hint !== undefined ? `; ${err.hint}` : ''}`;
  return new BerthError(err.kind, err.code, redact(what), { ...(err.hint !== undefined ? { hint: err.hint } : {}) });
}

function withNextStep<T>(spec: ServiceSpec, fn: () => T, redact: (text: string) => string): T {
  try {
    return fn();
  } catch (err) {
    throw nextStep(spec, err, redact);
  }
}

function openLog(file: string): number {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o750 });
  return openSync(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o640);
}
