import { whyNoPublicCertificate } from '../../core/public-names.js';
import type { CaddyAdmin } from './admin.js';
import { canonical } from './caddy-routes.js';

export type TlsMode = 'auto' | 'internal' | 'off';

export interface AcmeOptions {
  /** E-mail for ACME accounts (Let's Encrypt), for hosts with `tls: auto`. */
  readonly acmeEmail?: string | undefined;
  /** ACME directory URL (default: Caddy's own choice, Let's Encrypt) and the PEM root that signs its TLS certificate. */
  readonly acmeCa?: string | undefined;
  readonly acmeCaRoot?: string | undefined;
}

type Policies = { internal: string[]; auto: string[] };
interface TlsApp {
  automation?: { policies?: Array<{ '@id'?: string; subjects?: string[] }> };
}

const INTERNAL = 'berth-tls-internal';
const AUTO = 'berth-tls-auto';
const sorted = (hosts: Iterable<string>) => [...new Set(hosts)].sort();

/**
 * Berth's two TLS automation policies in Caddy ("berth-tls-internal", "berth-tls-auto"):
 * which host gets a certificate from where. A host is in at most one of them: Caddy refuses
 * a config with two policies for one host.
 */
export class CaddyTlsPolicies {
  readonly #admin: CaddyAdmin;
  readonly #acme: AcmeOptions;

  constructor(admin: CaddyAdmin, acme: AcmeOptions) {
    this.#admin = admin;
    this.#acme = acme;
  }

  /**
   * Why `tls: auto` on this host gets Caddy's internal CA instead of ACME, or undefined when
   * ACME is used. Only with the public CAs (no `acme_ca` of one's own, which may certify private names).
   */
  fallback(host: string): string | undefined {
    return this.#acme.acmeCa ? undefined : whyNoPublicCertificate(host);
  }

  /** The mode Caddy is given for a host that asks for `mode`. */
  effective(host: string, mode: TlsMode): TlsMode {
    return mode === 'auto' && this.fallback(host) !== undefined ? 'internal' : mode;
  }

  /**
   * Before routes change, every host keeps a policy for as long as its HTTPS route exists (without
   * one Caddy obtains a public certificate for it): hosts that are staying or coming get their new
   * policy, hosts going to `off` keep their old one. `after` sets exactly what `modes` asks.
   */
  async apply(modes: ReadonlyMap<string, TlsMode>, stage: 'before' | 'after'): Promise<void> {
    const want = (m: TlsMode) => [...modes].filter(([, x]) => x === m).map(([h]) => h);
    if (stage === 'after') return this.#set({ internal: sorted(want('internal')), auto: sorted(want('auto')) });
    const kept = await this.#current();
    const moving = (h: string) => modes.has(h) && modes.get(h) !== 'off';
    await this.#set({
      internal: sorted([...want('internal'), ...kept.internal.filter((h) => !moving(h))]),
      auto: sorted([...want('auto'), ...kept.auto.filter((h) => !moving(h))]),
    });
  }

  async #tlsApp(): Promise<TlsApp | null> {
    return (await this.#admin.call<TlsApp | null>('GET', '/config/apps/tls')).body ?? null;
  }

  async #current(): Promise<Policies> {
    const tls = await this.#tlsApp();
    const of = (id: string) => tls?.automation?.policies?.find((p) => p['@id'] === id)?.subjects ?? [];
    return { internal: of(INTERNAL), auto: of(AUTO) };
  }

  #issuer(): Record<string, unknown> {
    const o = this.#acme;
    return {
      module: 'acme',
      ...(o.acmeCa ? { ca: o.acmeCa } : {}),
      ...(o.acmeCaRoot ? { trusted_roots_pem_files: [o.acmeCaRoot] } : {}),
      ...(o.acmeEmail ? { email: o.acmeEmail } : {}),
    };
  }

  async #set(p: Policies): Promise<void> {
    const policies = [
      ...(p.internal.length ? [{ '@id': INTERNAL, subjects: p.internal, issuers: [{ module: 'internal' }] }] : []),
      ...(p.auto.length ? [{ '@id': AUTO, subjects: p.auto, issuers: [this.#issuer()] }] : []),
    ];
    const tls = await this.#tlsApp();
    const current = tls?.automation?.policies ?? [];
    const foreign = current.filter((x) => !x['@id']?.startsWith('berth-tls-'));
    if (canonical(current.filter((x) => x['@id']?.startsWith('berth-tls-'))) === canonical(policies)) return;
    const all = [...foreign, ...policies];
    if (!tls) await this.#admin.ok('PUT', '/config/apps/tls', { automation: { policies: all } });
    else if (!tls.automation) await this.#admin.ok('PUT', '/config/apps/tls/automation', { policies: all });
    else await this.#admin.ok(tls.automation.policies ? 'PATCH' : 'PUT', '/config/apps/tls/automation/policies', all);
  }
}
