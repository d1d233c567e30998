import { defaultPull } from '../core/image-ref.js';
import type { ServiceContext, ServiceOut } from './import-context.js';
import { at } from './import-warnings.js';

/** Compose's `pull_policy` values Berth keeps, as its `pull:`. */
const POLICIES: Readonly<Record<string, 'always' | 'missing'>> = {
  always: 'always',
  missing: 'missing',
  if_not_present: 'missing',
};

/**
 * `pull_policy` to `pull:` for an `image:` service. Compose pulls only a missing image unless told
 * otherwise, for every tag; Berth's default pulls `:latest` (or no tag) at every deploy. So an
 * imported `:latest` image gets `pull: missing`, to behave as it did under compose; `pull:` is
 * written only where it differs from Berth's default.
 */
export function mapPull(svc: Record<string, unknown>, ctx: ServiceContext, out: ServiceOut): void {
  const policy = svc.pull_policy;
  if (typeof out.image !== 'string') {
    if (policy !== undefined) ctx.warn.notMapped(at(ctx.path, 'pull_policy'), 'Berth pulls only `image:` services');
    return;
  }
  const pull = policy === undefined ? 'missing' : typeof policy === 'string' ? POLICIES[policy] : undefined;
  if (pull === undefined)
    return ctx.warn.notMapped(
      at(ctx.path, 'pull_policy'),
      `${String(policy)}: Berth's pull: is always (at every deploy) or missing (only when the engine lacks it)`,
    );
  if (pull !== defaultPull(out.image)) out.pull = pull;
}
