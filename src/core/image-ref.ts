/** An image reference taken apart: [registry[:port]/]path[:tag][@digest]. */
export interface ImageRef {
  /** The repository without tag or digest, as the engine's `fromImage` takes it: "ghcr.io/saleor/saleor". */
  readonly repo: string;
  /** The tag; "latest" when the reference names neither a tag nor a digest. Absent with a digest alone. */
  readonly tag?: string;
  /** "sha256:..." when the reference pins one. */
  readonly digest?: string;
  /** The registry it lives in: the first path part when it has a "." or ":" or is "localhost", else Docker Hub. */
  readonly registry: string;
}

/** Docker Hub's address, as the engine's credentials for it name it. */
export const DOCKER_HUB = 'https://index.docker.io/v1/';

/** Takes a valid reference apart (see IMAGE_PATTERN in the manifest schema). Pure. */
export function parseImageRef(image: string): ImageRef {
  const at = image.indexOf('@');
  const name = at < 0 ? image : image.slice(0, at);
  const digest = at < 0 ? undefined : image.slice(at + 1);
  const colon = name.lastIndexOf(':');
  const tagged = colon > name.lastIndexOf('/');
  const repo = tagged ? name.slice(0, colon) : name;
  const first = repo.split('/')[0] as string;
  const registry = repo.includes('/') && /[.:]|^localhost$/.test(first) ? first : DOCKER_HUB;
  const tag = tagged ? name.slice(colon + 1) : digest === undefined ? 'latest' : undefined;
  return { repo, registry, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/**
 * When a deploy pulls an image unless `pull:` says: every time for `:latest` or no tag (the tag is
 * meant to move), only when missing on the engine for any other tag or a digest (as Kubernetes does).
 */
export function defaultPull(image: string): 'always' | 'missing' {
  const ref = parseImageRef(image);
  return ref.digest === undefined && ref.tag === 'latest' ? 'always' : 'missing';
}
