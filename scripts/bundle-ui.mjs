// Part of `npm run build`: the dashboard, ui/src/*.jsx (Preact), bundled by esbuild into one static file,
// dist/ui/app.js, that berthd serves beside ui/index.html and ui/app.css (src/api/dashboard-routes.ts) under a CSP
// that allows only its own scripts: no inline script, nothing from another origin.
import { build } from 'esbuild';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)));

await build({
  entryPoints: [path.join(root, 'ui', 'src', 'main.jsx')],
  outfile: path.join(root, 'dist', 'ui', 'app.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome110', 'firefox110', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
});
