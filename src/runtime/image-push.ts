import { parseImageRef } from '../core/image-ref.js';
import { BerthError } from '../core/errors.js';
import type { ContainerEngine } from './container-engine.js';
import { inspectImage, registryAuth, type RegistryLogin } from './image-pull.js';

/**
 * Tags the engine's image `local` as `target` (registry/repo:tag) and pushes it with `login` (to the engine only,
 * in X-Registry-Auth, never logged). Answers the registry digest the engine then knows (repo@sha256:...): what a
 * swarm's nodes pull, and what the release records. Fails naming the registry and the engine's error.
 */
export async function pushImage(o: {
  engine: ContainerEngine;
  local: string;
  target: string;
  login?: RegistryLogin | undefined;
}): Promise<string> {
  const ref = parseImageRef(o.target);
  const tag = ref.tag ?? 'latest';
  const q = new URLSearchParams({ repo: ref.repo, tag });
  await o.engine.call('POST', `/images/${encodeURIComponent(o.local)}/tag?${q.toString()}`);
  const headers: Record<string, string> = o.login ? { 'X-Registry-Auth': registryAuth(o.login, ref) } : {};
  const res = await o.engine.stream(
    'POST',
    `/images/${encodeURIComponent(ref.repo)}/push?tag=${encodeURIComponent(tag)}`,
    undefined,
    undefined,
    headers,
  );
  let out = '';
  for await (const chunk of res) out += String(chunk);
  const error = out
    .split('\n')
    .map((line) => {
      try {
        return (JSON.parse(line) as { error?: string }).error;
      } catch {
        return undefined;
      }
    })
    .find((e) => e !== undefined);
  if (error !== undefined)
    throw new BerthError('failed', 'push_failed', `pushing ${o.target} to ${ref.registry}: ${error}`, {
      hint: 'check swarm_registry in config.yaml (its address, username and password_file) and that the registry runs',
    });
  const pushed = await inspectImage(o.engine, `${ref.repo}:${tag}`);
  if (!pushed?.digest?.startsWith(`${ref.repo}@`))
    throw new BerthError('failed', 'push_failed', `pushing ${o.target}: the engine knows no digest of it afterwards`);
  return pushed.digest;
}
