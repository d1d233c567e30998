import type { AppTree } from './app-tree.js';

/** One service `berth init` proposes: its berth.yaml keys, and why each guess was made. */
export interface PlannedService {
  readonly name: string;
  readonly fields: Record<string, unknown>;
  readonly why: readonly string[];
}

/** What a recogniser found: the kind of app, its services, and notes for the user (things to check or do). */
export interface InitPlan {
  readonly kind: string;
  readonly services: readonly PlannedService[];
  readonly notes: readonly string[];
  /** The app's name as the project itself gives it (package.json, pyproject), with where it came from. */
  readonly name?: { readonly raw: string; readonly from: string };
  /** A whole berth.yaml made by another importer (compose): written as it is, under init's header. */
  readonly yaml?: { readonly app: string; readonly text: string; readonly manifest: Record<string, unknown> };
}

/** A recogniser: a plan when the directory is its kind of app, else null. */
export type Recogniser = (tree: AppTree) => InitPlan | null;

/** The host Berth's route gets until the user names a domain: `<app>.localhost` answers on this machine only. */
export const localHost = (app: string): string => `${app}.localhost`;
