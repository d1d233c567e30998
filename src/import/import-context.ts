import type { Warnings } from './import-warnings.js';

/** What mapping one compose service needs to know. */
export interface ServiceContext {
  /** The service's name in the compose file. */
  readonly compose: string;
  /** Its Berth name (the compose name, or a valid one proposed for it). */
  readonly name: string;
  /** Its key path: `services.<compose name>`. */
  readonly path: string;
  /** The compose file's directory: env files and build contexts are resolved in it. */
  readonly dir: string;
  /** Interpolation variables (the `.env` file next to the compose file). */
  readonly vars: ReadonlyMap<string, string>;
  readonly app: string;
  readonly warn: Warnings;
}

/** One berth.yaml service being built, keys in the order they are printed. */
export type ServiceOut = Record<string, unknown>;
