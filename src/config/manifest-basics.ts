import { BerthError } from '../core/errors.js';
import type { Manifest } from './manifest-types.js';

/*
 * What berthd knows of manifests before it reads one: names, limits, defaults and the error a bad one gets. The
 * parser and its schema (zod, yaml: a third of berthd's bundle) load on the first manifest (config/manifest.ts),
 * not at berthd's start (issue 14, test/startup-cost).
 */

export const MANIFEST_FILE = 'berth.yaml';

/** The most a berth.yaml may weigh, in bytes (UTF-8): 1 MiB. */
export const MANIFEST_MAX_BYTES = 1024 * 1024;

/** Services one app may have unless the host says otherwise (`max_services` in config.yaml). */
export const DEFAULT_MAX_SERVICES = 200;

/** The keys of `env:` and of secrets: what a shell accepts as a variable name. */
export const ENV_KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** What a host allows in one manifest, beyond the schema. */
export interface ManifestLimits {
  /** Services per app. Default 200 (host setting `max_services`). */
  readonly maxServices: number;
}

export const DEFAULT_MANIFEST_LIMITS: ManifestLimits = Object.freeze({ maxServices: DEFAULT_MAX_SERVICES });

/** Parses manifest text into a `Manifest`: `parseManifest`, or the same off the event loop (`ManifestThread`). */
export type ManifestParse = (text: string, file: string) => Manifest | Promise<Manifest>;

/** Thrown for an invalid manifest; `message` holds every problem, one per line, with its place. */
export class ManifestError extends BerthError {
  readonly problems: readonly string[];
  constructor(file: string, problems: readonly string[]) {
    super('invalid', 'invalid_manifest', problems.join('\n'), {
      hint: `fix ${file} and run the command again`,
      details: { file, problems },
    });
    this.problems = problems;
  }
}

/** `backup:` as the engine uses it: defaults applied. */
export interface BackupSpec {
  readonly schedule: string;
  readonly keep: { readonly daily: number; readonly weekly: number; readonly monthly: number };
  /** "local" or a restic repository URL. */
  readonly to: string;
}

/** What `berth backup run` uses for an app whose manifest has no `backup:`. */
export const DEFAULT_BACKUP: BackupSpec = Object.freeze({
  schedule: '0 3 * * *',
  keep: Object.freeze({ daily: 7, weekly: 4, monthly: 6 }),
  to: 'local',
});
