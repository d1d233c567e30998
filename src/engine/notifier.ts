import type { Logger } from 'pino';
import { describe } from '../core/errors.js';
import type { Secrets } from './secrets.js';
import type { Store } from '../store/store.js';
import { postJson } from '../system/post-json.js';

export interface Notification {
  readonly app: string;
  readonly env: string;
  readonly kind: string;
  readonly status: string;
  readonly release: number | null;
  readonly error?: string;
}

/**
 * Tells an app's `notify` URLs when a deployment ends: one POST each (JSON, 5 s timeout,
 * no redirects followed), never to an internal address unless `outbound_allow` lists it,
 * checked when connecting. What fails is an event of the app, never an error of the deploy.
 */
export class Notifier {
  readonly #allow: readonly string[];
  readonly #store: Store;
  readonly #log: Logger;
  readonly #secrets: Pick<Secrets, 'redact'>;

  constructor(deps: { allow: readonly string[]; store: Store; log: Logger; secrets: Pick<Secrets, 'redact'> }) {
    this.#secrets = deps.secrets;
    this.#allow = deps.allow;
    this.#store = deps.store;
    this.#log = deps.log;
  }

  async send(urls: readonly string[], n: Notification): Promise<void> {
    const body = JSON.stringify(this.#secrets.redact(n)); // the app's own secrets;
    await Promise.all(
      urls.map(async (url) => {
        try {
          const status = await postJson(url, body, this.#allow, 'notification');
          if (status >= 300) throw new Error(`answered ${status}`);
        } catch (err) {
          const message = `notifying ${url} about ${n.kind} of ${n.app} (${n.env}) failed: ${describe(err)}`;
          this.#log.warn({ app: n.app, url }, message);
          await this.#store.events
            .append({ at: Date.now(), app: n.app, environment: n.env, service: null, kind: 'notify.failed', message })
            .catch(() => undefined);
        }
      }),
    );
  }
}
