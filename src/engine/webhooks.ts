import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import type { SecretBox } from '../auth/secret-box.js';
import { assertBranch, environmentFor } from '../core/environments.js';
import { BerthError, describe } from '../core/errors.js';
import type { Manifest } from '../config/manifest-types.js';
import type { Store } from '../store/store.js';
import { runCommand } from '../system/command.js';
import { assertOutboundHost, gitRemoteHost } from '../system/outbound.js';
import type { Deployer } from './deploy/deployer.js';
import type { Environments } from './environments.js';
import { storedManifest } from '../config/stored-manifest.js';

const DELIVERY_KEEP_MS = 90 * 24 * 3600 * 1000;

export interface WebhookDeps {
  readonly store: Store;
  readonly box: SecretBox;
  readonly deployer: Deployer;
  readonly environments: Environments;
  readonly outboundAllow: readonly string[];
  readonly log: Logger;
}

/** What a push did: queued a deployment, removed a preview, or nothing (and why). */
export interface PushOutcome {
  readonly app: string;
  readonly branch?: string;
  readonly env?: string;
  readonly action: 'deploy' | 'remove' | 'ignored' | 'pong';
  readonly why?: string;
}

/**
 * Push webhooks in GitHub's format: verified with HMAC-SHA256 over the raw body with the
 * app's own secret, then the pushed branch is fetched from the app's `origin` (checked: no
 * internal address) and deployed into its environment; a deleted branch removes its preview.
 */
export class Webhooks {
  readonly #d: WebhookDeps;

  constructor(deps: WebhookDeps) {
    this.#d = deps;
  }

  /** A new secret for the app's webhook (the old one stops working), shown once. */
  async rotate(app: string): Promise<{ app: string; secret: string; path: string }> {
    const row = await this.#d.store.apps.find(app);
    if (!row) throw new BerthError('not_found', 'app_not_found', `no app named "${app}"`);
    const secret = randomBytes(32).toString('base64url');
    await this.#d.store.write((r) =>
      r.secrets.putWebhook(row.id, this.#d.box.seal(secret, `webhook/${app}`), Date.now()),
    );
    return { app, secret, path: `/v1/hooks/github/${app}` };
  }

  /**
   * Takes a delivery (the SHA-256 of its signed body): false when it was taken before, so a
   * captured delivery replayed, also after berthd restarted, does nothing. Kept 90 days.
   */
  async takeDelivery(app: string, delivery: string): Promise<boolean> {
    const row = await this.#d.store.apps.find(app);
    if (!row) return false;
    return this.#d.store.write((r) => r.secrets.takeDelivery(row.id, delivery, Date.now(), DELIVERY_KEEP_MS));
  }

  /** Gives a delivery back when it was refused before being accepted (an error answer), so GitHub's redelivery of it is taken. */
  async dropDelivery(app: string, delivery: string): Promise<void> {
    const row = await this.#d.store.apps.find(app);
    if (row) await this.#d.store.write((r) => r.secrets.dropDelivery(row.id, delivery));
  }

  /** True when `signature` ("sha256=<hex>") is the HMAC of `body` with the app's secret. Unknown apps and apps without a secret verify nothing. */
  async verify(app: string, body: Buffer, signature: string | undefined): Promise<boolean> {
    const sealed = await this.#d.store.secrets.webhook(app);
    if (!sealed || !signature?.startsWith('sha256=')) return false;
    const expected = createHmac('sha256', this.#d.box.open(sealed, `webhook/${app}`))
      .update(body)
      .digest();
    const got = Buffer.from(signature.slice(7), 'hex');
    return got.length === expected.length && timingSafeEqual(got, expected);
  }

  /** A verified delivery. Fetching happens before the answer (so a refused remote is an error); the deploy after it. */
  async deliver(
    app: string,
    event: string | undefined,
    payload: { ref?: unknown; deleted?: unknown },
  ): Promise<PushOutcome> {
    if (event === 'ping') return { app, action: 'pong' };
    if (event !== 'push') return { app, action: 'ignored', why: `event ${String(event)} is not a push` };
    const ref = typeof payload.ref === 'string' ? payload.ref : '';
    if (!ref.startsWith('refs/heads/')) return { app, action: 'ignored', why: `${ref || 'no ref'} is not a branch` };
    const branch = assertBranch(ref.slice('refs/heads/'.length));
    const row = await this.#d.store.apps.find(app);
    if (!row) throw new BerthError('not_found', 'app_not_found', `no app named "${app}"`);
    const manifest = await this.#manifest(row.id);
    if (!manifest || manifest.environments.length === 0) {
      return {
        app,
        branch,
        action: 'ignored',
        why: `${app} declares no environments, so no branch deploys by itself (add environments: to berth.yaml)`,
      };
    }
    let env: string;
    try {
      env = environmentFor(manifest.environments, branch).name;
    } catch (err) {
      return { app, branch, action: 'ignored', why: describe(err) };
    }
    if (payload.deleted === true) {
      const existing = (await this.#d.environments.list(app)).find((e) => e.name === env);
      if (!existing?.preview) return { app, branch, env, action: 'ignored', why: 'no preview of that branch' };
      void this.#d.environments
        .remove(app, env, { reason: `branch ${branch} was deleted` })
        .catch((err) =>
          this.#d.log.warn({ app, env, err: describe(err) }, 'removing the preview of a deleted branch failed'),
        );
      return { app, branch, env, action: 'remove' };
    }
    const branchRef = await this.#fetch(row.sourceDir, branch);
    void this.#d.deployer
      .deploy({ dir: row.sourceDir, branch, branchRef, expectApp: app, wait: true })
      .then((r) =>
        this.#d.log.info({ app, branch, env: r.env, status: r.status, release: r.release }, 'webhook deploy finished'),
      )
      .catch((err) => this.#d.log.warn({ app, branch, err: describe(err) }, 'webhook deploy refused'));
    return { app, branch, env, action: 'deploy' };
  }

  async #manifest(appId: number): Promise<Manifest | undefined> {
    const envs = await this.#d.store.apps.environments();
    const releaseIds = envs
      .filter((e) => e.appId === appId && e.currentReleaseId !== null)
      .map((e) => e.currentReleaseId as number);
    const latest = Math.max(...releaseIds, -1);
    const release = latest > 0 ? await this.#d.store.releases.get(latest) : undefined;
    return release ? storedManifest(release.manifest) : undefined;
  }

  /** Fetches the branch from `origin` when there is one (its host checked first); the ref to deploy. */
  async #fetch(dir: string, branch: string): Promise<string> {
    const url = await runCommand(['git', '-C', dir, 'remote', 'get-url', 'origin']);
    if (url.code !== 0) return `refs/heads/${branch}`; // no origin: pushes land in this repository itself
    const host = gitRemoteHost(url.stdout.trim());
    if (host) await assertOutboundHost(host, this.#d.outboundAllow, `fetching ${branch} from origin`);
    const fetched = await runCommand(
      [
        'git',
        '-C',
        dir,
        '-c',
        'http.followRedirects=false',
        'fetch',
        '--quiet',
        '--no-tags',
        'origin',
        `+refs/heads/${branch}:refs/remotes/origin/${branch}`,
      ],
      {
        timeoutMs: 120_000,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/', GIT_TERMINAL_PROMPT: '0' },
      },
    );
    if (fetched.code !== 0)
      throw new BerthError(
        'failed',
        'fetch_failed',
        `git fetch of ${branch} from origin failed: ${fetched.stderr.trim().split('\n').slice(-2).join(' ')}`,
      );
    return `refs/remotes/origin/${branch}`;
  }
}
