import type { AppTree } from './app-tree.js';
import { findHealthRoute } from './init-health.js';
import type { InitPlan } from './init-plan.js';

const PY = ['.py'];
const BIND = '127.0.0.1:$PORT';

/**
 * A Python app (requirements.txt or pyproject.toml): Django (manage.py; gunicorn when it is a
 * dependency, else runserver), FastAPI (uvicorn), Flask (gunicorn, else flask run), or a plain
 * app.py/main.py. The ASGI/WSGI module is found in the source, never assumed.
 */
export function recognisePython(tree: AppTree): InitPlan | null {
  const req = tree.read('requirements.txt');
  const pyproject = tree.read('pyproject.toml');
  if (req === null && pyproject === null) return null;
  const deps = `${req ?? ''}\n${pyproject ?? ''}`.toLowerCase();
  const has = (pkg: string) => new RegExp(`(^|[\\s"',\\[])${pkg}\\b`, 'm').test(deps);
  const notes: string[] = [
    `its dependencies (${req !== null ? 'requirements.txt' : 'pyproject.toml'}) are installed into a virtualenv in each release (deps: auto): pip must reach your package index (PIP_INDEX_URL or PIP_FIND_LINKS in env: if it is not PyPI), or set deps: none to run on the host's python3 packages`,
  ];
  const name = pyproject !== null ? projectName(pyproject) : null;
  const base = { notes, ...(name !== null ? { name: { raw: name, from: 'pyproject.toml' } } : {}) };
  const health = findHealthRoute(tree, PY);
  const healthWhy = health ? [`health check ${health.path}: ${health.file} declares that route`] : [];
  const healthField = health ? { health: { http: health.path } } : {};

  if (tree.isFile('manage.py')) {
    const project = tree.sources(PY).find((f) => f.endsWith('/wsgi.py') && f.split('/').length === 2);
    const module = project ? `${project.split('/')[0] as string}.wsgi` : null;
    const settings = project ? (tree.read(`${project.split('/')[0] as string}/settings.py`) ?? '') : '';
    const gunicorn = has('gunicorn') && module !== null;
    const run = gunicorn ? `gunicorn ${module} --bind ${BIND}` : `python3 manage.py runserver ${BIND} --noreload`;
    if (!gunicorn)
      notes.push(
        "runserver is Django's development server: add gunicorn to the requirements and run gunicorn <project>.wsgi --bind 127.0.0.1:$PORT",
      );
    notes.push(
      "Django answers only the hosts in ALLOWED_HOSTS: add your route's host, and 127.0.0.1 for Berth's health check",
    );
    const admin = !health && /django\.contrib\.admin\b/.test(settings);
    return {
      kind: 'django',
      services: [
        {
          name: 'web',
          fields: {
            run,
            release: 'python3 manage.py migrate --noinput',
            ...(admin ? { health: { http: '/admin/login/' } } : healthField),
          },
          why: [
            `manage.py is there: a Django project${module ? ` (${module})` : ''}, ${gunicorn ? 'served by gunicorn (a dependency)' : 'served by runserver (gunicorn is not a dependency)'}`,
            'release: migrations run once per deploy, before the new release starts',
            ...(admin
              ? ['health check /admin/login/: django.contrib.admin is in INSTALLED_APPS and its login page answers 200']
              : healthWhy),
          ],
        },
      ],
      ...base,
    };
  }
  const fastapi = findApp(tree, /^(\w+)\s*(?::\s*\w+\s*)?=\s*FastAPI\(/m);
  if (fastapi) {
    return {
      kind: 'fastapi',
      services: [
        {
          name: 'web',
          fields: { run: `python3 -m uvicorn ${fastapi.target} --host 127.0.0.1 --port $PORT`, ...healthField },
          why: [`${fastapi.file} makes a FastAPI app (${fastapi.target}): served by uvicorn on $PORT`, ...healthWhy],
        },
      ],
      ...base,
    };
  }
  const flask = findApp(tree, /^(\w+)\s*=\s*Flask\(/m);
  if (flask) {
    const gunicorn = has('gunicorn');
    if (!gunicorn)
      notes.push('flask run is a development server: add gunicorn to the requirements and run gunicorn module:app');
    return {
      kind: 'flask',
      services: [
        {
          name: 'web',
          fields: {
            run: gunicorn
              ? `gunicorn ${flask.target} --bind ${BIND}`
              : `python3 -m flask --app ${flask.target} run --host 127.0.0.1 --port $PORT`,
            ...healthField,
          },
          why: [
            `${flask.file} makes a Flask app (${flask.target}): ${gunicorn ? 'served by gunicorn (a dependency)' : 'served by flask run (gunicorn is not a dependency)'}`,
            ...healthWhy,
          ],
        },
      ],
      ...base,
    };
  }
  const main = ['app.py', 'main.py', 'server.py'].find((f) => tree.isFile(f));
  if (main === undefined) return { kind: 'python', services: [], ...base };
  notes.push(`${main} must listen on $PORT (os.environ["PORT"]) on 127.0.0.1`);
  return {
    kind: 'python',
    services: [
      {
        name: 'web',
        fields: { run: `python3 -u ${main}`, ...healthField },
        why: [`no Django, FastAPI or Flask app found; ${main} is there`, ...healthWhy],
      },
    ],
    ...base,
  };
}

/** The first module (outside tests) assigning `pattern`'s app: `pkg.module:var` for uvicorn/gunicorn. */
function findApp(tree: AppTree, pattern: RegExp): { target: string; file: string } | null {
  for (const file of tree.sources(PY).filter((f) => !/(^|\/)(tests?|test_[^/]*)(\/|$)/.test(f))) {
    const m = pattern.exec(tree.read(file) ?? '');
    if (!m) continue;
    const module = file
      .replace(/\.py$/, '')
      .replace(/\/__init__$/, '')
      .replaceAll('/', '.');
    return { target: `${module}:${m[1] as string}`, file };
  }
  return null;
}

/** `name = "..."` of pyproject's [project] or [tool.poetry] table. */
function projectName(pyproject: string): string | null {
  const table = /^\[(project|tool\.poetry)\]\s*$([\s\S]*?)(?=^\[|(?![\s\S]))/m.exec(pyproject);
  return table ? (/^name\s*=\s*["']([^"']+)["']/m.exec(table[2] as string)?.[1] ?? null) : null;
}
