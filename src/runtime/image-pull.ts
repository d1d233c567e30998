import { BerthError, describe } from '../core/errors.js';
import { DOCKER_HUB, parseImageRef, type ImageRef } from '../core/image-ref.js';
import { EngineError, type ContainerEngine } from './container-engine.js';

/** A registry login, as the engine gets it in X-Registry-Auth. Never logged, never in an error. */
export interface RegistryLogin {
  readonly username: string;
  readonly password: string;
}

/** An image on the engine: its id (what a container runs) and its registry digest, when it came from one. */
export interface EngineImage {
  readonly id: string;
  /** repo@sha256:..., from RepoDigests; undefined for an image built or loaded here. */
  readonly digest: string | undefined;
}

/** The image `image` names on the engine now (tag or id), or undefined when it has none. */
export async function inspectImage(engine: ContainerEngine, image: string): Promise<EngineImage | undefined> {
  try {
    const r = await engine.call<{ Id: string; RepoDigests?: string[] | null }>(
      'GET',
      `/images/${encodeURIComponent(image)}/json`,
    );
    const digests = r.RepoDigests ?? [];
    const repo = image.startsWith('sha256:') ? undefined : parseImageRef(image).repo;
    return { id: r.Id, digest: digests.find((d) => repo !== undefined && d.startsWith(`${repo}@`)) ?? digests[0] };
  } catch (err) {
    if (err instanceof EngineError && err.status === 404) return undefined;
    throw err;
  }
}

/**
 * Pulls `image` through the engine (POST /images/create, with the login in X-Registry-Auth when
 * given), its progress passed to `log` line by line (the byte counters left out), and answers what
 * the engine then has under that name. Fails with what went wrong (credentials refused, no such
 * image, registry unreachable) and what to do; the login is never part of it.
 */
export async function pullImage(o: {
  engine: ContainerEngine;
  image: string;
  login?: RegistryLogin | undefined;
  log: (line: string) => void;
}): Promise<EngineImage> {
  const ref = parseImageRef(o.image);
  const query = new URLSearchParams({ fromImage: ref.repo, tag: ref.digest ?? ref.tag ?? 'latest' });
  const headers: Record<string, string> = o.login ? { 'X-Registry-Auth': registryAuth(o.login, ref) } : {};
  try {
    const res = await o.engine.stream('POST', `/images/create?${query.toString()}`, undefined, undefined, headers);
    await readPullOutput(res, o.log);
  } catch (err) {
    throw pullError(o.image, ref, err, o.login !== undefined);
  }
  const pulled = await inspectImage(o.engine, o.image);
  if (!pulled) throw pullError(o.image, ref, new Error('the engine has no such image after the pull'), false);
  return pulled;
}

/** X-Registry-Auth: the login as JSON in URL-safe base64 *with* its padding (the engine reads nothing without it). */
export function registryAuth(login: RegistryLogin, ref: Pick<ImageRef, 'registry'>): string {
  const json = JSON.stringify({ username: login.username, password: login.password, serveraddress: ref.registry });
  return Buffer.from(json).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

/** The engine's pull output (JSON objects, one per line): status lines to `log`; an error line throws. */
async function readPullOutput(res: NodeJS.ReadableStream, log: (line: string) => void): Promise<void> {
  let rest = '';
  const take = (line: string) => {
    if (line.trim() === '') return;
    let msg: { status?: string; id?: string; progress?: string; error?: string; message?: string };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      return log(line);
    }
    if (typeof msg.error === 'string' || typeof msg.message === 'string') throw new Error(msg.error ?? msg.message);
    if (typeof msg.status === 'string' && msg.progress === undefined)
      log(msg.id !== undefined ? `${msg.id}: ${msg.status}` : msg.status);
  };
  for await (const chunk of res) {
    const lines = (rest + chunk.toString()).split(/\r?\n/);
    rest = lines.pop() as string;
    lines.forEach(take);
  }
  take(rest);
}

/** What went wrong in a pull, said so that the next step is clear. */
function pullError(image: string, ref: ImageRef, err: unknown, withLogin: boolean): BerthError {
  if (err instanceof BerthError) return err; // no engine, or it does not answer: named by its setting
  const why = describe(err);
  const registry = ref.registry === DOCKER_HUB ? 'Docker Hub' : ref.registry;
  if (/unauthorized|authentication required|no basic auth credentials|forbidden|denied/i.test(why)) {
    const missing = /pull access denied|does not exist/i.test(why);
    return new BerthError(
      'failed',
      'image_pull_unauthorized',
      `pulling image ${image}: ${registry} refused ${withLogin ? 'the credentials of registry_auth' : 'an anonymous pull'}${missing ? ', or it has no such image' : ''} (${why})`,
      {
        hint: withLogin
          ? 'check that the secrets registry_auth names (berth secrets set APP NAME) hold a user name and a password or token allowed to pull this image'
          : "a private image needs registry_auth: { username: USER, password_secret: SECRET } naming the app's secret with the password or token",
      },
    );
  }
  if (/not found|manifest unknown|name unknown|does not exist/i.test(why))
    return new BerthError(
      'failed',
      'image_not_found',
      `pulling image ${image}: ${registry} has no such image (${why})`,
      {
        hint: 'check the repository and the tag (or digest) in image:',
      },
    );
  if (/dial tcp|connection refused|no such host|timeout|unreachable|no route to host|HTTP response to HTTPS/i.test(why))
    return new BerthError(
      'failed',
      'registry_unreachable',
      `pulling image ${image}: the registry ${registry} cannot be reached from the container engine (${why})`,
      {
        hint: "check the registry's address and that this host reaches it (DNS, firewall, HTTP proxy of the engine); a registry without TLS must be in the engine's insecure-registries (127.0.0.0/8 is by default)",
      },
    );
  return new BerthError('failed', 'image_pull_failed', `pulling image ${image}: ${why}`, {
    hint: "the build log (berth logs <app> --build) has the pull's progress",
  });
}
