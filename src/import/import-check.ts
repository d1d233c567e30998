import { stringify } from 'yaml';
import { ManifestError, parseManifest } from '../config/manifest.js';
import { serviceSchema } from '../config/manifest-schema.js';

/** The keys of a container service; a Berth that does not know them yet cannot check them. */
const CONTAINER_KEYS = ['image', 'container_port', 'volumes', 'entrypoint'] as const;

export interface ImportCheck {
  /** Berth's own manifest validation problems of the imported berth.yaml (none expected). */
  readonly problems: readonly string[];
  /** True when this Berth's schema has no container keys: they were left out of the check. */
  readonly withoutContainerKeys: boolean;
}

/**
 * Runs the imported manifest through Berth's own validation. While the manifest schema has no
 * container keys, those keys (and the object form of build) are taken out first and a service
 * left without anything to run gets a placeholder command, so the rest (names, env, health,
 * depends_on, restart, ...) is still checked.
 */
export function checkImported(manifest: {
  app: string;
  services: Record<string, Record<string, unknown>>;
}): ImportCheck {
  const knows = 'image' in serviceSchema.shape;
  const input = knows ? manifest : { app: manifest.app, services: withoutContainerKeys(manifest.services) };
  try {
    parseManifest(stringify(input), 'berth.yaml');
    return { problems: [], withoutContainerKeys: !knows };
  } catch (err) {
    if (!(err instanceof ManifestError)) throw err;
    return { problems: err.problems, withoutContainerKeys: !knows };
  }
}

function withoutContainerKeys(
  services: Record<string, Record<string, unknown>>,
): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [name, svc] of Object.entries(services)) {
    const s = { ...svc };
    for (const key of CONTAINER_KEYS) delete s[key];
    if (typeof s.build === 'object') delete s.build;
    if (s.run === undefined) s.run = 'true';
    out[name] = s;
  }
  return out;
}
