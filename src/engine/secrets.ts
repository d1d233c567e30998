import { ENV_KEY_PATTERN } from '../config/manifest-basics.js';
import { BerthError } from '../core/errors.js';
import { assertName } from '../core/names.js';
import { Redactor, redactTree, SECRET_MIN_LENGTH } from '../core/redact.js';
import type { SecretBox } from '../auth/secret-box.js';
import type { Store } from '../store/store.js';

const RESERVED = ['PORT', 'DATA_DIR', 'PATH', 'HOME', 'BERTH_INSTANCE'];

export interface SecretInfo {
  readonly name: string;
  /** The environment it is for, or null for every environment. */
  readonly env: string | null;
  readonly updatedAt: number;
  /** True when setting it registered the app (never deployed yet). */
  readonly registered?: boolean;
}

/**
 * An app's secrets: sealed in the store, opened only to start an instance or a build, and
 * never printed: each app's values blank themselves out of what Berth shows of that app (its
 * logs, errors and records), never out of other apps' records. A change takes effect at the
 * next deploy or restart.
 */
export class Secrets {
  readonly #store: Store;
  readonly #box: SecretBox;

  constructor(store: Store, box: SecretBox) {
    this.#store = store;
    this.#box = box;
  }

  /** Values per app, for redactors limited to some organisations' apps. */
  #byApp = new Map<string, string[]>();
  readonly #scoped = new Map<string, Redactor>();

  /** Loads every app's values (at start, and after each change). */
  async refresh(): Promise<void> {
    const all = await this.#store.secrets.list();
    const byApp = new Map<string, string[]>();
    for (const s of all)
      byApp.set(s.app, [...(byApp.get(s.app) ?? []), this.#box.open(s.sealed, slot(s.app, s.env, s.name))]);
    this.#byApp = byApp;
    this.#scoped.clear();
  }

  /** The redactor of one app's own secrets. */
  forApp(app: string): Redactor {
    return this.redactorFor([app]);
  }

  /**
   * `value` as shown to someone: each record of an app (an object with `app`) redacted with
   * that app's secrets, text outside any record with those of `outside` (the apps in scope).
   */
  redact<T>(value: T, outside: readonly string[] = []): T {
    return redactTree(value, (app) => this.forApp(app), this.redactorFor(outside));
  }

  /**
   * A redactor for what one caller sees: the secrets of the apps they can see. With the
   * process-wide one, a guessed value echoed back as "[redacted]" would tell that some
   * other organisation uses it.
   */
  redactorFor(apps: readonly string[]): Redactor {
    const key = [...apps].sort().join(',');
    let r = this.#scoped.get(key);
    if (!r) {
      r = new Redactor();
      r.set(apps.flatMap((a) => this.#byApp.get(a) ?? []));
      if (this.#scoped.size > 1000) this.#scoped.clear();
      this.#scoped.set(key, r);
    }
    return r;
  }

  /**
   * Sets a secret. With `register` (root on the host, or an admin of `register.org` over the API), an
   * unknown app is registered in `register.org` (default "default"), never deployed: its first deploy
   * finds the secret, and a failed first deploy leaves it registered with its secrets. `remote`: the
   * caller was authorized in that organisation only, so an app of that name registered meanwhile in
   * another one is none of theirs (not found, its organisation not named).
   */
  async set(
    app: string,
    env: string | null,
    name: string,
    value: string,
    register?: { org?: string | undefined; remote?: boolean },
  ): Promise<SecretInfo> {
    checkName(name);
    if (env !== null) assertName('environment', env);
    if (value.length > 65_536 || value.includes('\0'))
      throw new BerthError(
        'invalid',
        'bad_secret_value',
        'a secret value has at most 65536 characters and no NUL byte',
      );
    if (value.trim().length < SECRET_MIN_LENGTH)
      throw new BerthError(
        'invalid',
        'secret_too_short',
        `a secret value has at least ${SECRET_MIN_LENGTH} characters (this one has ${value.trim().length}): a shorter one could not be hidden from logs without blanking ordinary words`,
        {
          hint: 'use a longer value (e.g. openssl rand -hex 16); a setting that is not secret belongs in env: in berth.yaml',
        },
      );
    const now = Date.now();
    const known = await this.#store.apps.find(app);
    if (register?.remote && known && known.org !== register.org)
      throw new BerthError('not_found', 'app_not_found', `no app named "${app}"`);
    if (register?.org !== undefined && known && known.org !== register.org)
      throw new BerthError('conflict', 'app_in_other_org', `app "${app}" belongs to organisation "${known.org}"`, {
        hint: 'an org is named only for a new app',
      });
    const row = known ?? (register ? await this.#register(app, register, now) : await this.#app(app));
    await this.#store.write((r) =>
      r.secrets.put(row.id, env ?? '', name, this.#box.seal(value, slot(app, env ?? '', name)), now),
    );
    await this.refresh();
    return { name, env, updatedAt: now, ...(known ? {} : { registered: true }) };
  }

  async #register(
    app: string,
    register: { org?: string | undefined; remote?: boolean },
    now: number,
  ): Promise<{ id: number }> {
    assertName('app', app);
    const orgName = register.org ?? 'default';
    const org = await this.#store.identity.org(orgName);
    if (!org)
      throw new BerthError('not_found', 'org_not_found', `no organisation "${orgName}"`, {
        hint: 'see berth org ls; berth org create <name> makes one',
      });
    return this.#store.write(async (r) => {
      if (org.maxApps !== null && (await r.apps.countInOrg(org.id)) >= org.maxApps)
        throw new BerthError(
          'conflict',
          'quota_apps',
          `organisation "${org.name}" has reached its quota of ${org.maxApps} app(s)`,
          {
            hint: 'remove an app (berth rm), or raise it: berth org quota',
          },
        );
      const made = await r.apps.find(app); // registered meanwhile
      if (made && made.orgId !== org.id && register.remote)
        throw new BerthError('not_found', 'app_not_found', `no app named "${app}"`);
      if (made && made.orgId !== org.id)
        throw new BerthError('conflict', 'app_in_other_org', `app "${app}" belongs to organisation "${made.org}"`);
      return { id: made?.id ?? (await r.apps.register(app, now, org.id)) };
    });
  }

  /**
   * The value of the environment's own secret `name` (not an app-wide one), made with `make` and
   * stored when there is none: a managed database's password (see engine/databases).
   */
  async ensure(app: string, env: string, name: string, make: () => string): Promise<string> {
    const own = (await this.#store.secrets.list(app)).find((s) => s.env === env && s.name === name);
    if (own) return this.#box.open(own.sealed, slot(app, env, name));
    const value = make();
    await this.set(app, env, name, value);
    return value;
  }

  async unset(app: string, env: string | null, name: string): Promise<{ name: string; env: string | null }> {
    const row = await this.#app(app);
    checkName(name);
    if (!(await this.#store.write((r) => r.secrets.delete(row.id, env ?? '', name)))) {
      throw new BerthError('not_found', 'secret_not_found', `${app} has no secret ${name}${env ? ` for ${env}` : ''}`, {
        hint: `see berth secrets ls ${app}`,
      });
    }
    await this.refresh();
    return { name, env };
  }

  async list(app: string): Promise<SecretInfo[]> {
    await this.#app(app);
    return (await this.#store.secrets.list(app)).map((s) => ({
      name: s.name,
      env: s.env || null,
      updatedAt: s.updatedAt,
    }));
  }

  /** The variables an instance or build of `app` in `env` gets: the environment's own over the app-wide ones. */
  async forEnvironment(app: string, env: string): Promise<Record<string, string>> {
    const rows = (await this.#store.secrets.list(app))
      .filter((s) => s.env === '' || s.env === env)
      .sort((a, b) => a.env.length - b.env.length);
    return Object.fromEntries(rows.map((s) => [s.name, this.#box.open(s.sealed, slot(app, s.env, s.name))]));
  }

  async #app(app: string): Promise<{ id: number }> {
    const row = await this.#store.apps.find(app);
    if (!row) throw new BerthError('not_found', 'app_not_found', `no app named "${app}"`);
    return row;
  }
}

const slot = (app: string, env: string, name: string) => `${app}/${env}/${name}`;

function checkName(name: string): void {
  if (!ENV_KEY_PATTERN.test(name) || name.length > 128)
    throw new BerthError(
      'invalid',
      'bad_secret_name',
      `secret name ${JSON.stringify(name)} is not an environment variable name`,
      { hint: 'letters, digits and _, not starting with a digit, e.g. DATABASE_URL' },
    );
  if (RESERVED.includes(name))
    throw new BerthError('invalid', 'bad_secret_name', `${name} is set by Berth and cannot be a secret`);
}
