import path from 'node:path';
import type { ServiceContext, ServiceOut } from './import-context.js';
import { at, isMapping, scalarText } from './import-warnings.js';

const BUILD_KEYS = new Set(['context', 'dockerfile', 'args', 'target']);

/**
 * `image:` and `build:`. A prebuilt image stays `image:`; a build becomes the object form of
 * `build:` ({ context, dockerfile, args, target }, the context relative to the berth.yaml, which
 * sits where the compose file is). With both, the build wins: Berth tags what it builds itself.
 */
export function mapImageAndBuild(svc: Record<string, unknown>, ctx: ServiceContext, out: ServiceOut): void {
  const build = svc.build === undefined ? undefined : mapBuild(svc.build, ctx);
  const image = svc.image;
  if (image !== undefined && typeof image !== 'string') ctx.warn.notMapped(at(ctx.path, 'image'), 'not a string');
  else if (image !== undefined && build)
    ctx.warn.notMapped(
      at(ctx.path, 'image'),
      `with build, Berth tags the image it builds itself (berth/${ctx.app}-<env>:<release>), so ${image} is not used`,
    );
  else if (image !== undefined) out.image = image;
  if (build) out.build = build;
  if (out.image === undefined && out.build === undefined)
    ctx.warn.add(ctx.path, 'has neither an image nor a build Berth can use: add `image:` or `build:` to it');
}

function mapBuild(build: unknown, ctx: ServiceContext): Record<string, unknown> | undefined {
  const p = at(ctx.path, 'build');
  const spec = typeof build === 'string' ? { context: build } : build;
  if (!isMapping(spec)) {
    ctx.warn.notMapped(p, 'expected a context path or a mapping');
    return undefined;
  }
  for (const key of Object.keys(spec))
    if (!BUILD_KEYS.has(key))
      ctx.warn.notMapped(at(p, key), "Berth's build takes context, dockerfile, args and target");
  const context = buildContext(spec.context ?? '.', ctx, at(p, 'context'));
  if (context === undefined) return undefined;
  const out: Record<string, unknown> = { context };
  if (spec.dockerfile !== undefined) {
    if (typeof spec.dockerfile === 'string') out.dockerfile = spec.dockerfile;
    else ctx.warn.notMapped(at(p, 'dockerfile'), 'not a string');
  }
  const args = buildArgs(spec.args, ctx, at(p, 'args'));
  if (args) out.args = args;
  if (spec.target !== undefined) {
    if (typeof spec.target === 'string') out.target = spec.target;
    else ctx.warn.notMapped(at(p, 'target'), 'not a string');
  }
  return out;
}

const REMOTE = /^(?:https?:\/\/|git@|git:\/\/|ssh:\/\/|github\.com\/)/;

/** The context relative to the compose file's directory, or undefined when Berth cannot build from it. */
function buildContext(context: unknown, ctx: ServiceContext, p: string): string | undefined {
  if (typeof context !== 'string') {
    ctx.warn.notMapped(p, 'not a string');
    return undefined;
  }
  if (REMOTE.test(context)) {
    // A git URL's "#ref:subdir" names the directory inside the repository.
    const subdir = /#[^:]*:(.+)$/.exec(context)?.[1];
    const dir = subdir === undefined ? '.' : relativeInside(subdir, '.');
    if (dir === undefined) {
      ctx.warn.notMapped(p, `the repository's subdirectory ${subdir} leaves the repository`);
      return undefined;
    }
    ctx.warn.add(
      p,
      `a remote context (a git URL): Berth builds from the source it deploys, so it became ${JSON.stringify(dir)}, assuming berth.yaml sits at the root of that repository`,
    );
    return dir;
  }
  const dir = relativeInside(context, ctx.dir);
  if (dir === undefined)
    ctx.warn.notMapped(
      p,
      `${context} is outside the compose file's directory; Berth builds only from the app's source`,
    );
  return dir;
}

/** `p` (relative to `base`, or absolute) as a path relative to `base` that stays inside it; "." for itself. */
function relativeInside(p: string, base: string): string | undefined {
  const rel = path.posix.normalize(path.isAbsolute(p) ? path.relative(base, p) : p).replace(/\/+$/, '');
  if (rel === '..' || rel.startsWith('../') || path.isAbsolute(rel)) return undefined;
  return rel === '' ? '.' : rel;
}

function buildArgs(args: unknown, ctx: ServiceContext, p: string): Record<string, string> | undefined {
  if (args === undefined) return undefined;
  const out: Record<string, string> = {};
  const put = (key: string, value: unknown, kp: string) => {
    const text = scalarText(value);
    if (text === undefined)
      ctx.warn.notMapped(kp, 'no value (compose takes it from the shell): give it a value in build.args');
    else out[key] = text;
  };
  if (Array.isArray(args))
    args.forEach((item, i) => {
      const text = scalarText(item) ?? '';
      const eq = text.indexOf('=');
      put(eq < 0 ? text : text.slice(0, eq), eq < 0 ? undefined : text.slice(eq + 1), at(p, i));
    });
  else if (isMapping(args)) for (const [k, v] of Object.entries(args)) put(k, v, at(p, k));
  else ctx.warn.notMapped(p, 'expected a mapping or a list of KEY=VALUE');
  return Object.keys(out).length > 0 ? out : undefined;
}
