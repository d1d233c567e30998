import { closeSync, constants, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { ServiceSpec } from '../../config/manifest-types.js';
import { BerthError, describe } from '../../core/errors.js';
import { ContainerEngine, EngineError } from '../../runtime/container-engine.js';
import { buildImage, imageTag, type ImageBuilt } from '../../runtime/image-build.js';
import { tailLines } from '../../runtime/log-files.js';
import { BuildLeftovers } from '../build-leftovers.js';
import { IMAGE_LABEL, imageLabel } from '../images-view.js';

/** The services whose image the deploy builds: `build:` in its object form. */
export function imageBuilds(services: readonly ServiceSpec[]): ServiceSpec[] {
  return services.filter((s) => s.kind === 'container' && s.container?.build != null);
}

/**
 * Builds the image of each container service with `build: { dockerfile, ... }` from the release
 * snapshot (never the live tree), tagged berth/<app>-<env>:<release>, its output appended to the
 * release's build log (`logFile`, opened without following a link). A failed build fails with the
 * log's last lines. Returns each service's spec with the image it runs: the tag and the engine's id.
 */
export async function runImageBuilds(o: {
  engine: ContainerEngine | undefined;
  services: readonly ServiceSpec[];
  releaseDir: string;
  logFile: string;
  app: string;
  env: string;
  release: number;
  noCache: boolean;
  redact: (text: string) => string;
  /** This BERTH_HOME's identity: the images get the label berth.image (see imageLabel). */
  home?: string | undefined;
}): Promise<Map<string, ImageBuilt>> {
  const built = new Map<string, ImageBuilt>();
  const specs = imageBuilds(o.services);
  if (specs.length === 0) return built;
  mkdirSync(path.dirname(o.logFile), { recursive: true, mode: 0o750 });
  const fd = openSync(
    o.logFile,
    constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW,
    0o640,
  );
  const leftovers = new BuildLeftovers();
  const write = (line: string) => {
    leftovers.see(line);
    writeSync(fd, `${o.redact(line)}\n`);
  };
  // Without a configured engine the build fails with the error naming the setting.
  const engine = o.engine ?? new ContainerEngine(undefined);
  try {
    for (const spec of specs) {
      const b = spec.container?.build;
      if (!b) continue;
      write(`==> building the image of ${spec.name}${o.noCache ? ' (--no-cache)' : ''}`);
      try {
        built.set(
          spec.name,
          await buildImage({
            engine,
            snapshot: o.releaseDir,
            spec: {
              context: b.context,
              dockerfile: b.dockerfile,
              args: b.args,
              ...(b.target !== null ? { target: b.target } : {}),
            },
            app: o.app,
            env: o.env,
            release: o.release,
            ...(specs.length > 1 ? { service: spec.name } : {}),
            noCache: o.noCache,
            log: write,
            ...(o.home !== undefined
              ? {
                  labels: {
                    [IMAGE_LABEL]: imageLabel({
                      home: o.home,
                      app: o.app,
                      env: o.env,
                      release: o.release,
                      service: spec.name,
                    }),
                  },
                }
              : {}),
          }),
        );
      } catch (err) {
        write(describe(err));
        const removed = await leftovers.remove(engine).catch(() => undefined);
        if (removed !== undefined) write(`==> removed ${removed}, the image the failed build left`);
        const lines = tailLines(o.logFile, 10)
          .map((l) => `  ${l}`)
          .join('\n');
        throw new BerthError(
          'failed',
          'build_failed',
          `build of ${spec.name}'s image failed; last log lines:\n${lines}`,
          { hint: `see ${o.logFile}`, cause: err },
        );
      }
    }
  } finally {
    closeSync(fd);
  }
  return built;
}

/** `spec` running the image built for it: `image` its tag, `imageId` the engine's id of it. */
export function withBuiltImage(spec: ServiceSpec, built: ImageBuilt | undefined): ServiceSpec {
  if (!built || !spec.container) return spec;
  return { ...spec, container: { ...spec.container, image: built.tag, imageId: built.imageId } };
}

/** The tags a release's image builds give (whether they ran or not): what undoing the build removes. */
export function releaseImageTags(
  app: string,
  env: string,
  release: number,
  services: readonly ServiceSpec[],
): string[] {
  const specs = imageBuilds(services);
  return specs.map((s) => imageTag(app, env, release, specs.length > 1 ? s.name : undefined));
}

/** The images a recorded release runs that it built itself (never an `image:` it only uses). */
export function builtImagesOf(services: readonly ServiceSpec[]): string[] {
  return services.flatMap((s) =>
    s.container?.build && s.container.imageId && s.container.image ? [s.container.image] : [],
  );
}

/**
 * Removes images by tag, with the untagged parents only they used (the classic builder's cached
 * steps): a pruned release's, or those of a build undone. An image another tag still names loses
 * only this tag; one a container still uses stays (the engine refuses: 409). Returns what stayed, and why.
 */
export async function removeImages(engine: ContainerEngine | undefined, tags: readonly string[]): Promise<string[]> {
  const kept: string[] = [];
  if (!engine || tags.length === 0) return kept;
  for (const tag of tags) {
    try {
      await engine.call('DELETE', `/images/${encodeURIComponent(tag)}`);
    } catch (err) {
      if (err instanceof EngineError && err.status === 404) continue;
      kept.push(`${tag}: ${describe(err)}`);
    }
  }
  return kept;
}
