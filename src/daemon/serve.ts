import { chmodSync, readFileSync, unlinkSync } from 'node:fs';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type pino from 'pino';
import type { ApiDeps } from '../api/deps.js';
import { buildApi } from '../api/server.js';
import type { HostSettings } from '../config/host-settings.js';
import { IdleGc } from './idle-gc.js';

export interface ServeOptions {
  /** berthd's unix socket: root's way in, 0600. */
  readonly socket: string;
  readonly settings: HostSettings;
  readonly log: pino.Logger;
  /** Settles when berthd may answer (the proxy up, routes served); the API is built meanwhile. */
  readonly after: Promise<unknown>;
  /** Throws when this berthd may not change anything (a follower: daemon/leadership.ts); reads are served regardless. */
  readonly writes?: () => Promise<void>;
}

/** What a follower still does: reads, and what is its host's own (its config.yaml, stopping itself). */
function readOnly(req: FastifyRequest): boolean {
  const url = req.routeOptions.url;
  return req.method === 'GET' || req.method === 'HEAD' || url === '/v1/daemon/stop' || url === '/v1/config';
}

/** Refuses changes while `writes` says so; after the caller is authenticated (policy), so a stranger learns nothing. */
function gate(api: FastifyInstance, writes: (() => Promise<void>) | undefined): void {
  if (writes)
    api.addHook('preValidation', async (req) => {
      if (!readOnly(req)) await writes();
    });
}

/**
 * Serves the API on berthd's unix socket and, when the settings' `api_listen` asks, the same routes
 * over TCP (with TLS when `api_tls` names a certificate), where only tokens and sessions count:
 * nobody there is root on the host. Each response pokes the idle collector.
 */
export async function serveApi(deps: ApiDeps, o: ServeOptions): Promise<{ close(): Promise<void> }> {
  const { settings, log } = o;
  const idleGc = new IdleGc();
  const api = buildApi(deps);
  gate(api, o.writes);
  api.addHook('onResponse', async () => idleGc.poke());
  try {
    unlinkSync(o.socket); // berthd holds the pid file, so any socket file here is stale
  } catch {
    // none
  }
  await o.after;
  await api.listen({ path: o.socket });
  let remoteApi: FastifyInstance | undefined;
  if (settings.apiListen) {
    const at = settings.apiListen.lastIndexOf(':');
    const host = settings.apiListen.slice(0, at).replace(/^\[|\]$/g, '');
    remoteApi = buildApi(deps, {
      local: false,
      https: settings.apiTls
        ? { cert: readFileSync(settings.apiTls.cert), key: readFileSync(settings.apiTls.key) }
        : undefined,
    });
    gate(remoteApi, o.writes);
    remoteApi.addHook('onResponse', async () => idleGc.poke());
    await remoteApi.listen({ host, port: Number(settings.apiListen.slice(at + 1)) });
    log.info({ listen: settings.apiListen, tls: Boolean(settings.apiTls) }, 'API served over TCP');
  }
  chmodSync(o.socket, 0o600);
  idleGc.poke(); // berthd's start's garbage, once it is quiet
  return {
    close: async () => {
      await Promise.all([api.close(), remoteApi?.close()]);
    },
  };
}
