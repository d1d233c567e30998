import type { FastifyInstance, FastifySchema } from 'fastify';
import type { Need } from '../core/roles.js';

interface DocumentedRoute {
  readonly method: string;
  readonly url: string;
  readonly schema: FastifySchema | undefined;
  readonly need: Need | undefined;
  readonly resource: string | undefined;
}

/** The dashboard's static pages (public, GET only): the only routes left out of the document, and so out of the authorization matrix. */
export const NOT_API: ReadonlySet<string> = new Set(['GET /', 'GET /ui/', 'GET /ui/:file']);

/** Records every route as it is registered, for the OpenAPI document and the authorization matrix test. */
export function collectRoutes(app: FastifyInstance): DocumentedRoute[] {
  const routes: DocumentedRoute[] = [];
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) {
      if (method === 'HEAD' || NOT_API.has(`${method} ${r.url}`)) continue;
      routes.push({ method, url: r.url, schema: r.schema, need: r.config?.need, resource: r.config?.resource });
    }
  });
  return routes;
}

const needText = (n: Need | undefined): string =>
  n === undefined ? 'none' : typeof n === 'string' ? n : `role:${n.role}`;

/** OpenAPI 3.1 from the routes' own JSON schemas; each operation says who may call it (x-berth-policy). */
export function openApi(routes: readonly DocumentedRoute[], version: string): unknown {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.url.replace(/:([A-Za-z_]+)/g, '{$1}');
    const s = (r.schema ?? {}) as {
      params?: { properties?: Record<string, unknown> };
      querystring?: { properties?: Record<string, unknown>; required?: string[] };
      body?: unknown;
    };
    const pathParams = [...r.url.matchAll(/:([A-Za-z_]+)/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: s.params?.properties?.[m[1] as string] ?? { type: 'string' },
    }));
    const query = Object.entries(s.querystring?.properties ?? {}).map(([name, schema]) => ({
      name,
      in: 'query',
      required: s.querystring?.required?.includes(name) ?? false,
      schema,
    }));
    const need = needText(r.need);
    (paths[path] ??= {})[r.method.toLowerCase()] = {
      operationId: `${r.method.toLowerCase()}${path
        .replace(/[{}]/g, '')
        .replace(/\/(\w)/g, (_m, c: string) => c.toUpperCase())
        .replace(/[^A-Za-z0-9]/g, '')}`,
      'x-berth-policy': { need, resource: r.resource ?? 'none' },
      ...(need === 'public' ? { security: [] } : {}),
      ...(pathParams.length + query.length > 0 ? { parameters: [...pathParams, ...query] } : {}),
      ...(s.body ? { requestBody: { required: true, content: { 'application/json': { schema: s.body } } } } : {}),
      responses: { default: { description: 'JSON; errors are { error: { code, message, hint? } }' } },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Berth API',
      version,
      description:
        'The API berthd serves on its unix socket (root on the host) and, when configured, over TCP with tokens or sessions.',
    },
    components: {
      securitySchemes: {
        token: { type: 'http', scheme: 'bearer' },
        session: { type: 'apiKey', in: 'cookie', name: 'berth_session' },
      },
    },
    security: [{ token: [] }, { session: [] }],
    paths,
  };
}
