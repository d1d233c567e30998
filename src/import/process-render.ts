import { Document, isMap, isScalar } from 'yaml';
import { WAS_PORT } from './process-apps.js';
import type { ImportedApp } from './process-apps.js';
import type { ChecklistItem } from './process-def.js';

/** The order keys are printed in, within a service. */
const ORDER = ['run', 'cwd', 'port', 'env', 'release', 'depends_on', 'routes', 'restart', 'instances', 'stop_timeout'];

/** The comment above a service that Berth gives a port of its own: `berth import nginx --into` reads it. */
export const WAS_COMMENT = 'listened on port';

/** One berth.yaml, with a header naming its source and where it belongs. */
export function renderApp(app: ImportedApp, tool: string, source: string): string {
  const services: Record<string, Record<string, unknown>> = {};
  for (const [name, s] of Object.entries(app.services)) {
    const out: Record<string, unknown> = {};
    for (const key of [...ORDER, ...Object.keys(s)]) if (s[key] !== undefined && key !== WAS_PORT) out[key] = s[key];
    services[name] = out;
  }
  const doc = new Document({ app: app.app, services });
  const map = doc.get('services');
  if (isMap(map))
    for (const pair of map.items) {
      const was = isScalar(pair.key) ? app.services[String(pair.key.value)]?.[WAS_PORT] : undefined;
      if (isScalar(pair.key) && typeof was === 'number') pair.key.commentBefore = ` ${WAS_COMMENT} ${was}`;
    }
  doc.commentBefore =
    ` berth.yaml made by \`berth import ${tool}\` from ${source}.` +
    (app.root !== null ? `\n Its place: ${app.root}/berth.yaml (the app's source directory).` : '') +
    '\n Read the migration checklist it printed before the first berth deploy.';
  return doc.toString({ lineWidth: 0 });
}

/** The checklist as text: one `- <origin>: <what>` line per item, under a title. */
export function renderChecklist(items: readonly ChecklistItem[]): string {
  if (items.length === 0) return '# Migration checklist: nothing to do by hand.\n';
  return (
    `# Migration checklist (${items.length}):\n` +
    [...items]
      .sort((a, b) => a.origin.localeCompare(b.origin, 'en', { numeric: true }))
      .map((i) => `# - ${i.origin}: ${i.text.replaceAll('\n', '\n#   ')}`)
      .join('\n') +
    '\n'
  );
}
