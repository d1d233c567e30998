import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { MANIFEST_FILE } from '../config/manifest-basics.js';
import { BerthError, describe } from '../core/errors.js';
import { assertName } from '../core/names.js';
import type { Principal } from '../core/roles.js';
import type { Store } from '../store/store.js';
import { resolveUnder, type HomeLayout } from '../system/paths.js';
import type { Apps } from './apps.js';
import type { Deployer } from './deploy/deployer.js';
import { removeTree } from '../system/safe-tree.js';

/** Slugs that would shadow the platform's own names. */
const RESERVED = new Set(['www', 'api', 'admin', 'app', 'mail', 'berth', 'dashboard', 'default', 'static', 'assets']);

export interface SiteDeps {
  readonly store: Store;
  readonly layout: HomeLayout;
  readonly deployer: Deployer;
  readonly apps: Apps;
  readonly templatesDir: string | undefined;
  readonly domain: string | undefined;
  readonly log: Logger;
}

export interface SiteResult {
  readonly slug: string;
  readonly org: string;
  readonly template: string;
  readonly host: string;
  readonly release: number | null;
  readonly status: 'active';
}

/**
 * Sites from templates (seed 002's flow, as one transaction): claim the slug (its one
 * winner), copy the template, deploy it as an app of the organisation on
 * `<slug>.<domain>` (journaled: ports, processes, routes, user, files undone on failure),
 * then mark it active. Any failure, also after the last infrastructure step, removes
 * everything it made; a crash is undone at the next start (`recover`).
 */
export class Sites {
  readonly #d: SiteDeps;

  constructor(deps: SiteDeps) {
    this.#d = deps;
  }

  #dir(slug: string): string {
    return resolveUnder(path.join(this.#d.layout.root, 'sites'), slug);
  }

  async create(
    org: { id: number; name: string },
    req: { slug: string; template: string },
    by: Principal,
  ): Promise<SiteResult> {
    const { templatesDir, domain } = this.#d;
    if (!templatesDir || !domain)
      throw new BerthError('unavailable', 'sites_not_configured', 'this host has no site templates', {
        hint: 'set templates_dir and sites_domain in config.yaml',
      });
    assertName('app', req.slug);
    if (RESERVED.has(req.slug))
      throw new BerthError('invalid', 'slug_reserved', `"${req.slug}" is reserved`, { hint: 'pick another slug' });
    assertName('app', req.template);
    const template = resolveUnder(templatesDir, req.template);
    if (!existsSync(path.join(template, MANIFEST_FILE))) {
      throw new BerthError('not_found', 'template_not_found', `no template "${req.template}"`, {
        hint: `templates: ${listTemplates(templatesDir).join(', ') || 'none'}`,
      });
    }
    const host = `${req.slug}.${domain}`;
    if (await this.#d.store.apps.find(req.slug))
      throw new BerthError('conflict', 'slug_taken', `"${req.slug}" is taken`, { hint: 'pick another slug' });
    const claimed = await this.#d.store.write((r) =>
      r.sites.claim({
        slug: req.slug,
        orgId: org.id,
        template: req.template,
        host,
        createdBy: by.kind === 'user' ? `user:${by.name}` : by.kind,
        now: Date.now(),
      }),
    );
    if (!claimed)
      throw new BerthError('conflict', 'slug_taken', `"${req.slug}" is taken`, { hint: 'pick another slug' });
    try {
      const dir = this.#dir(req.slug);
      removeTree(dir);
      cpSync(template, dir, {
        recursive: true,
        verbatimSymlinks: true,
        filter: (src) => path.basename(src) !== '.git',
      });
      // Placeholders in the template's berth.yaml: the slug is a DNS label and the host a hostname, so neither can break the YAML.
      const text = readFileSync(path.join(dir, MANIFEST_FILE), 'utf8')
        .replaceAll('{{slug}}', req.slug)
        .replaceAll('{{host}}', host);
      writeFileSync(path.join(dir, MANIFEST_FILE), text);
      const result = await this.#d.deployer.deploy({ dir, org: org.name, adoptKeptData: false, expectApp: req.slug });
      if (result.status !== 'succeeded')
        throw new BerthError(
          'failed',
          'site_failed',
          `deploying site ${req.slug} failed: ${result.error ?? result.status}`,
        );
      if (result.app !== req.slug)
        throw new BerthError(
          'invalid',
          'template_invalid',
          `template ${req.template} names its app "${result.app}"; it must be app: "{{slug}}"`,
        );
      if (process.env.BERTH_FAIL_SITE_AT === `activate:${req.slug}`)
        throw new BerthError(
          'failed',
          'injected',
          'injected failure after the last infrastructure step (BERTH_FAIL_SITE_AT)',
        );
      await this.#d.store.write((r) => r.sites.setStatus(req.slug, 'active'));
      return { slug: req.slug, org: org.name, template: req.template, host, release: result.release, status: 'active' };
    } catch (err) {
      await this.#undo(req.slug);
      throw err;
    }
  }

  /** Removes whatever a site's creation made: its app (processes, leases, routes, user, releases, logs, data), its files, its row. */
  async #undo(slug: string): Promise<boolean> {
    try {
      const site = (await this.#d.store.sites.list()).find((s) => s.slug === slug);
      const app = await this.#d.store.apps.find(slug);
      // Only the site's own app: one of that name in another organisation is not the site's to remove.
      if (app && site && app.orgId === site.orgId && app.sourceDir === this.#dir(slug))
        await this.#d.apps.rm(slug, true, true);
      else if (!app) {
        // A failed first deploy keeps its attempt's logs for `berth logs`; a site that never was keeps nothing.
        removeTree(this.#d.layout.appLogRoot(slug));
        await this.#d.store.attempts.forget(slug);
      }
      removeTree(this.#dir(slug));
      await this.#d.store.write((r) => r.sites.remove(slug));
      return true;
    } catch (err) {
      this.#d.log.error({ slug, err: describe(err) }, 'undoing a site failed; berthd retries at its next start');
      return false;
    }
  }

  async remove(orgId: number, slug: string): Promise<{ slug: string; removed: true }> {
    const site = (await this.#d.store.sites.list({ orgId })).find((s) => s.slug === slug);
    if (!site) throw new BerthError('not_found', 'site_not_found', `no site "${slug}"`);
    await this.#d.store.write((r) => r.sites.setStatus(slug, 'creating')); // a crash from here on is finished at boot
    if (!(await this.#undo(slug)))
      throw new BerthError(
        'failed',
        'site_remove_failed',
        `removing site ${slug} did not finish; berthd finishes it at its next start`,
        { hint: 'see berthd.log' },
      );
    return { slug, removed: true };
  }

  list(orgId: number) {
    return this.#d.store.sites.list({ orgId });
  }

  /** At boot: sites berthd was making (or removing) when it stopped are removed completely. */
  async recover(): Promise<void> {
    for (const s of await this.#d.store.sites.list({ status: 'creating' })) {
      this.#d.log.warn({ slug: s.slug }, 'a site was half made when berthd stopped: removing what it made');
      await this.#undo(s.slug);
    }
  }
}

function listTemplates(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}
