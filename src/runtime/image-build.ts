import path from 'node:path';
import { BerthError, describe } from '../core/errors.js';
import { assertName } from '../core/names.js';
import { DirHandle } from '../system/safe-tree.js';
import { contextTar, readSmallFile } from './build-context-tar.js';
import type { ContainerEngine } from './container-engine.js';
import { DockerIgnore } from './dockerignore.js';

/** The object form of `build:`: a container build, paths relative to the release snapshot. */
export interface ImageBuildSpec {
  /** The build context, a directory of the snapshot. Default ".". */
  readonly context?: string;
  /** The Dockerfile, relative to the context. Default "Dockerfile". */
  readonly dockerfile?: string;
  readonly args?: Readonly<Record<string, string>>;
  /** The stage of a multi-stage Dockerfile to build. Default: the last. */
  readonly target?: string;
}

export interface ImageBuildRequest {
  /** The Docker Engine API's client (the one the runtime uses: one module talks to the engine). */
  readonly engine: ContainerEngine;
  /** The release snapshot the context is taken from (never the live tree). */
  readonly snapshot: string;
  readonly spec: ImageBuildSpec;
  readonly app: string;
  readonly env: string;
  readonly release: number;
  /** Set when a release builds several images: the tag gets `-<service>` (see imageTag). */
  readonly service?: string | undefined;
  /** Build every step afresh (`berth deploy --no-cache`). */
  readonly noCache: boolean;
  /** Labels of the image (`berth.home`, app, env, release): how `berth images` knows it is this BERTH_HOME's. */
  readonly labels?: Readonly<Record<string, string>> | undefined;
  /** Each line of the build's output: the release's build log. */
  readonly log: (line: string) => void;
}

export interface ImageBuilt {
  /** berth/<app>-<env>:<release> */
  readonly tag: string;
  /** The engine's image id (sha256:...). */
  readonly imageId: string;
}

/** The tag of a release's image: berth/<app>-<env>:<release>, or :<release>-<service> when it builds several. */
export function imageTag(app: string, env: string, release: number, service?: string): string {
  const suffix = service === undefined ? '' : `-${assertName('service', service)}`;
  return `berth/${assertName('app', app)}-${assertName('environment', env)}:${release}${suffix}`;
}

/**
 * Builds a release's image: the context directory of the snapshot goes to the engine's /build
 * as a tar made without following links (see contextTar), with the Dockerfile, args, target and
 * nocache; the output is passed to `log` line by line. Rejects with the engine's error (the
 * failing step's message) when the build fails.
 */
export async function buildImage(req: ImageBuildRequest): Promise<ImageBuilt> {
  const tag = imageTag(req.app, req.env, req.release, req.service);
  const context = inside(req.spec.context ?? '.', 'build.context');
  const dockerfile = inside(req.spec.dockerfile ?? 'Dockerfile', 'build.dockerfile');
  const dir = openContext(req.snapshot, context, dockerfile);
  const query = new URLSearchParams({ t: tag, dockerfile, rm: '1', forcerm: '1' });
  if (req.spec.args && Object.keys(req.spec.args).length > 0) query.set('buildargs', JSON.stringify(req.spec.args));
  if (req.spec.target) query.set('target', req.spec.target);
  if (req.noCache) query.set('nocache', '1');
  if (req.labels) query.set('labels', JSON.stringify(req.labels));
  try {
    const imageId = await post(req, `/build?${query.toString()}`, dir, dockerfile);
    return { tag, imageId };
  } finally {
    dir.close();
  }
}

/** A relative path that stays where it starts ("." for itself), or an error naming the key. */
function inside(p: string, key: string): string {
  const norm = path.posix.normalize(p).replace(/\/+$/, '') || '.';
  if (path.posix.isAbsolute(norm) || norm === '..' || norm.startsWith('../'))
    throw new BerthError('invalid', 'build_path_outside', `${key} ${JSON.stringify(p)} leaves its directory`, {
      hint: `${key} is a relative path inside the app's source (the Dockerfile: inside the context)`,
    });
  return norm;
}

/** The context directory, opened from the snapshot without following links; the Dockerfile checked in it. */
function openContext(snapshot: string, context: string, dockerfile: string): DirHandle {
  const top = DirHandle.openParent(snapshot);
  if (!top) throw notThere(`the release snapshot ${snapshot}`);
  let d: DirHandle = top;
  try {
    for (const part of context === '.' ? [] : context.split('/')) {
      const child = d.child(part);
      d.close();
      if (!child) throw notThere(`build.context ${context} (a directory, not a link)`);
      d = child;
    }
    checkFile(d, dockerfile.split('/'), `build.dockerfile ${dockerfile} in ${context} (a file, not a link)`);
    return d;
  } catch (err) {
    try {
      d.close();
    } catch {
      // closed already
    }
    throw err;
  }
}

/** Throws unless `parts` leads from `d` to a regular file, through directories that are not links. */
function checkFile(d: DirHandle, parts: readonly string[], what: string): void {
  const [first, ...rest] = parts;
  if (first === undefined) throw notThere(what);
  if (rest.length === 0) {
    if (!d.lstat(first)?.isFile()) throw notThere(what);
    return;
  }
  const child = d.child(first);
  if (!child) throw notThere(what);
  try {
    checkFile(child, rest, what);
  } finally {
    child.close();
  }
}

function notThere(what: string): BerthError {
  return new BerthError('invalid', 'build_context_missing', `no ${what}`, {
    hint: 'the paths of build: are relative to berth.yaml, inside the app, without links',
  });
}

async function post(req: ImageBuildRequest, route: string, dir: DirHandle, dockerfile: string): Promise<string> {
  // The tar is sent while the engine answers; the walk ends (its descriptors closed) before this returns.
  const ignore = readSmallFile(dir, '.dockerignore');
  const keep = [dockerfile, '.dockerignore'];
  const tar = contextTar(dir, { keep, ...(ignore === undefined ? {} : { ignore: new DockerIgnore(ignore) }) });
  let sendError: Error | undefined;
  const ended = new Promise<void>((resolve) => {
    tar.once('error', (err: Error) => {
      sendError = err;
      resolve();
    });
    tar.once('close', () => resolve());
  });
  try {
    const res = await req.engine.stream('POST', route, tar, 'application/x-tar');
    const id = await readBuildOutput(res, req.log);
    await ended;
    if (sendError !== undefined) throw sendError;
    return id;
  } catch (err) {
    tar.destroy();
    await ended;
    throw new BerthError(
      'failed',
      'image_build_failed',
      `building ${imageTag(req.app, req.env, req.release, req.service)}: ${describe(err)}`,
      { hint: 'the build log (berth logs <app> --build) has the output of every step' },
    );
  }
}

/** The engine's build output (JSON objects, one per line): lines to `log`, the image id, or the error. */
async function readBuildOutput(res: NodeJS.ReadableStream, log: (line: string) => void): Promise<string> {
  let rest = '';
  let imageId: string | undefined;
  let error: string | undefined;
  let partial = '';
  const take = (text: string) => {
    const lines = (partial + text).split('\n');
    partial = lines.pop() as string;
    for (const line of lines) log(line);
  };
  for await (const chunk of res) {
    rest += chunk.toString();
    const lines = rest.split('\n');
    rest = lines.pop() as string;
    for (const line of lines.filter((l) => l.trim() !== '')) {
      const msg = parseLine(line);
      if (typeof msg.stream === 'string') take(msg.stream);
      if (typeof msg.aux?.ID === 'string') imageId = msg.aux.ID;
      if (typeof msg.error === 'string') error = msg.error;
      if (typeof msg.message === 'string') error = msg.message;
    }
  }
  if (rest.trim() !== '') {
    const msg = parseLine(rest);
    error = msg.error ?? msg.message ?? error;
  }
  if (partial !== '') log(partial);
  if (error !== undefined) throw new Error(error.trim());
  if (imageId === undefined) throw new Error('the engine answered without an image id');
  return imageId;
}

interface BuildMessage {
  stream?: string;
  error?: string;
  message?: string;
  aux?: { ID?: string };
}

function parseLine(line: string): BuildMessage {
  try {
    return JSON.parse(line) as BuildMessage;
  } catch {
    return { stream: `${line}\n` };
  }
}
