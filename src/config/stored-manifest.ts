import type { Manifest, RouteSpec, ServiceSpec } from './manifest-types.js';

/** What a release recorded before some fields existed may lack. */
type Recorded = Omit<Manifest, 'environments' | 'notify' | 'services' | 'cron' | 'backup'> &
  Partial<Pick<Manifest, 'environments' | 'notify' | 'cron' | 'backup'>> & {
    readonly services: ReadonlyArray<
      Omit<ServiceSpec, 'routes' | 'release'> & { readonly routes: readonly RecordedRoute[] } & Partial<
          Pick<ServiceSpec, 'release'>
        >
    >;
  };
type RecordedRoute = Omit<RouteSpec, 'tls'> & Partial<Pick<RouteSpec, 'tls'>>;

/**
 * A manifest as a release stored it (the JSON of its normalised form). Releases recorded before a
 * field existed lack it, so the field's default is filled in here, once, and every reader gets a
 * whole `Manifest` instead of guarding each field.
 */
export function storedManifest(json: string): Manifest {
  const m = JSON.parse(json) as Recorded;
  return {
    ...m,
    notify: m.notify ?? [],
    environments: m.environments ?? [],
    cron: m.cron ?? [],
    backup: m.backup ?? null,
    services: m.services.map((s) => ({
      ...s,
      release: s.release ?? null,
      routes: s.routes.map((r) => ({ ...r, tls: r.tls ?? 'auto' })),
    })),
  };
}
