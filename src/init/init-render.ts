import { Document, isMap, isScalar } from 'yaml';
import { localHost, type InitPlan } from './init-plan.js';

/** The order keys are printed in, within a service. */
const ORDER = [
  ...['build', 'container_port', 'static', 'spa', 'run', 'cwd', 'port', 'env', 'release'],
  ...['depends_on', 'routes', 'health', 'restart', 'instances', 'stop_timeout'],
];

/** The service the local route goes to: the first that serves HTTP (static, or with a port). */
export function routedService(plan: InitPlan): string | undefined {
  return plan.services.find((s) => s.fields.port !== 'none')?.name;
}

/** The manifest as data: what is validated, and what is printed. */
export function initManifest(
  app: string,
  plan: InitPlan,
): { app: string; services: Record<string, Record<string, unknown>> } {
  const routed = routedService(plan);
  const services: Record<string, Record<string, unknown>> = {};
  for (const s of plan.services) {
    const fields: Record<string, unknown> = { ...s.fields };
    if (s.name === routed && fields.routes === undefined) fields.routes = [localHost(app)];
    const out: Record<string, unknown> = {};
    for (const key of [...ORDER, ...Object.keys(fields)]) if (fields[key] !== undefined) out[key] = fields[key];
    services[s.name] = out;
  }
  return { app, services };
}

/**
 * berth.yaml as `berth init` writes it: a header saying what kind of app it found and what to
 * check, each service preceded by why it is what it is, the local route explained.
 */
export function renderInit(app: string, plan: InitPlan, appWhy: string): string {
  const header = [
    ` berth.yaml written by \`berth init\`: ${KIND[plan.kind] ?? plan.kind}.`,
    ' Everything below is a guess from the files: check it before the first `berth up`.',
    ` app: ${appWhy}`,
    ...(plan.notes.length > 0 ? [' To check or do:', ...plan.notes.map((n) => ` - ${n}`)] : []),
  ].join('\n');
  if (plan.yaml) return `#${header.replaceAll('\n', '\n#')}\n${plan.yaml.text}`;
  const doc = new Document(initManifest(app, plan));
  doc.commentBefore = header;
  const services = doc.get('services');
  if (isMap(services))
    for (const pair of services.items) {
      const name = isScalar(pair.key) ? String(pair.key.value) : '';
      const why = plan.services.find((s) => s.name === name)?.why ?? [];
      if (isScalar(pair.key) && why.length > 0) pair.key.commentBefore = why.map((w) => ` ${w}`).join('\n');
      if (!isMap(pair.value)) continue;
      const routes = pair.value.items.find((p) => isScalar(p.key) && p.key.value === 'routes');
      if (routes && isScalar(routes.key))
        routes.key.commentBefore = ` ${localHost(app)} answers on this machine only: put your domain here (tls is automatic)`;
    }
  return doc.toString({ lineWidth: 0 });
}

const KIND: Readonly<Record<string, string>> = {
  compose: 'a compose project',
  procfile: 'an app run from its Procfile',
  dockerfile: 'a container built from its Dockerfile',
  next: 'a Next.js app',
  'next-export': 'a Next.js static export',
  vite: 'a Vite front end (static, single-page)',
  cra: 'a Create React App front end (static, single-page)',
  node: 'a Node.js app',
  django: 'a Django app',
  fastapi: 'a FastAPI app',
  flask: 'a Flask app',
  python: 'a Python app',
  static: 'a static site',
};

/** The plan's guesses as lines for the terminal. */
export function guessLines(plan: InitPlan, appWhy: string): string[] {
  return [
    `found ${KIND[plan.kind] ?? plan.kind}`,
    `app: ${appWhy}`,
    ...plan.services.flatMap((s) => s.why.map((w) => `${s.name}: ${w}`)),
    ...plan.notes.map((n) => `check: ${n}`),
  ];
}
