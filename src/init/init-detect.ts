import path from 'node:path';
import { proposeName } from '../import/import-names.js';
import { nameProblem } from '../core/names.js';
import type { AppTree } from './app-tree.js';
import { recogniseCompose, recogniseDockerfile, recogniseProcfile, recogniseStatic } from './init-files.js';
import { recogniseNode } from './init-node.js';
import type { InitPlan, Recogniser } from './init-plan.js';
import { recognisePython } from './init-python.js';

/**
 * The recognisers, in the order they are asked: what the author wrote down about running the app
 * (a compose file, a Procfile, a Dockerfile) comes before what init infers from the language's
 * files (package.json, requirements.txt/pyproject.toml), and a plain directory of web files last.
 */
const RECOGNISERS: readonly (readonly [string, Recogniser])[] = [
  ['compose file', recogniseCompose],
  ['Procfile', recogniseProcfile],
  ['Dockerfile', recogniseDockerfile],
  ['package.json', recogniseNode],
  ['requirements.txt/pyproject.toml', recognisePython],
  ['index.html', recogniseStatic],
];

export interface Recognised {
  readonly plan: InitPlan;
  readonly app: string;
  /** Why the app is called so: "from package.json's name", "the directory's name". */
  readonly appWhy: string;
}

/** The first recogniser's plan with services (or a whole berth.yaml); null when none recognises the directory. */
export function recognise(tree: AppTree): Recognised | null {
  const others: string[] = [];
  let plan: InitPlan | null = null;
  for (const [what, fn] of RECOGNISERS) {
    const p = fn(tree);
    if (p === null || (p.services.length === 0 && !p.yaml)) continue;
    if (plan === null) plan = p;
    else others.push(what);
  }
  if (plan === null) return null;
  const notes = [...plan.notes];
  if (others.length > 0)
    notes.push(
      `also here: ${others.join(', ')}; init used the first of compose file, Procfile, Dockerfile, package.json, Python files, index.html`,
    );
  for (const link of tree.links) notes.push(`${link} is a link: init does not follow links, and did not look there`);
  const named = appName(plan, tree.root);
  return { plan: { ...plan, notes }, ...named };
}

function appName(plan: InitPlan, root: string): { app: string; appWhy: string } {
  if (plan.yaml) return { app: plan.yaml.app, appWhy: `${plan.yaml.app} (as berth import compose names it)` };
  const raw = plan.name?.raw ?? path.basename(path.resolve(root));
  const from = plan.name ? `${plan.name.from}'s name` : "the directory's name";
  const app = proposeName(raw, new Set(), 'app');
  const changed = nameProblem(raw) !== undefined;
  return {
    app,
    appWhy: changed
      ? `${app}, from ${from} ${JSON.stringify(raw)} made a valid name (a-z, 0-9 and "-", at most 63)`
      : `${app}, ${from}`,
  };
}
