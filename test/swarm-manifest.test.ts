import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseHostSettings } from '../src/config/settings-schema.js';
import { ManifestError, parseManifest } from '../src/config/manifest.js';
import { BerthError } from '../src/core/errors.js';
import { swarmFit } from '../src/engine/swarm-env.js';
import { swarmNameOf, swarmOptions } from '../src/engine/swarm-options.js';
import { swarmServiceSpec } from '../src/runtime/swarm-spec.js';

/** berth.yaml's keys for a swarm and the host setting `scheduler` (pure; test/swarm-deploy runs them on a swarm). */
const app = (service: string) => `app: shop\nservices:\n  web:\n${service}`;
const WEB = `    image: registry.test:5000/web:v1
    container_port: 8080
    health: { http: /health }
    routes: [shop.test]
`;
const id = (service: string) => ({ home: 'abcdef123456', app: 'shop', env: 'production', service, release: 7 });

test('replicas, placement and update of a container become its Swarm service: tasks, constraints, spread, policy', () => {
  const m = parseManifest(
    app(`${WEB}    replicas: 3
    placement: { spread: node.labels.zone, constraints: ["node.role!=manager"], max_per_node: 1 }
    update: { parallelism: 2, order: stop-first }
`),
    'berth.yaml',
  );
  const web = m.services[0]!;
  assert.equal(web.instances, 3);
  const spec = swarmServiceSpec(swarmOptions(id('web'), web));
  assert.equal(spec.Mode.Replicated.Replicas, 3);
  assert.deepEqual(spec.TaskTemplate.Placement, {
    Constraints: ['node.role!=manager'],
    Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }],
    MaxReplicas: 1,
  });
  assert.deepEqual([spec.UpdateConfig?.Parallelism, spec.UpdateConfig?.Order], [2, 'stop-first']);
  assert.equal(spec.TaskTemplate.ContainerSpec.Image, 'registry.test:5000/web:v1');
  assert.deepEqual(spec.EndpointSpec?.Ports, [{ Protocol: 'tcp', TargetPort: 8080, PublishMode: 'host' }]);
  // A routed service: one Swarm service per release (blue-green); a worker keeps one name.
  assert.equal(swarmNameOf(id('web'), web), 'berth-abcdef12-shop-production-web-r7');
});

test('the digest the pull step recorded is what the Swarm service runs', () => {
  const web = parseManifest(app(WEB), 'berth.yaml').services[0]!;
  const pinned = {
    ...web,
    container: { ...web.container!, digest: 'registry.test:5000/web@sha256:' + 'a'.repeat(64) },
  };
  assert.equal(swarmOptions(id('web'), pinned).image, pinned.container.digest);
});

test('swarm keys where they cannot apply, and replicas beside instances, are refused with the fix', () => {
  const both = () => parseManifest(app(`${WEB}    replicas: 3\n    instances: 2\n`), 'berth.yaml');
  assert.throws(both, (e: unknown) => e instanceof ManifestError && /two names for one count/.test(e.message));
  const proc = () => parseManifest(app(`    run: ./serve\n    placement: { spread: node }\n`), 'berth.yaml');
  assert.throws(
    proc,
    (e: unknown) => e instanceof ManifestError && /only applies to a container on a swarm/.test(e.message),
  );
  const bad = () => parseManifest(app(`${WEB}    placement: { constraints: ["zone==a"] }\n`), 'berth.yaml');
  assert.throws(bad, (e: unknown) => e instanceof ManifestError && /node.labels.zone==a/.test(e.message));
  const built = parseManifest(
    app(`    build: { dockerfile: Dockerfile }\n    container_port: 8080\n    health: { http: /h }\n`),
    'berth.yaml',
  ).services[0]!;
  assert.throws(
    () => swarmOptions(id('web'), built),
    (e: unknown) =>
      e instanceof BerthError && e.code === 'swarm_build' && /set swarm_registry in config.yaml/.test(e.hint ?? ''),
  );
});

test('the host setting scheduler: host by default, swarm when set, anything else refused naming both', () => {
  assert.equal(parseHostSettings({}, 'config.yaml', {}).scheduler, 'host');
  assert.equal(parseHostSettings({ scheduler: 'swarm' }, 'config.yaml', {}).scheduler, 'swarm');
  assert.equal(parseHostSettings({}, 'config.yaml', { BERTH_SCHEDULER: 'swarm' }).scheduler, 'swarm');
  assert.throws(
    () => parseHostSettings({ scheduler: 'kubernetes' }, 'config.yaml', {}),
    (e: unknown) => e instanceof BerthError && /scheduler/.test(e.message) && /"host"|host/.test(e.message),
  );
  assert.throws(
    () => parseHostSettings({}, 'config.yaml', { BERTH_SCHEDULER: 'k8s' }),
    (e: unknown) => e instanceof BerthError && /expected "host" or "swarm", got "k8s"/.test(e.message),
  );
  const registry = { address: '10.0.0.2:5000', username: 'u', password_file: '/etc/berth/registry-password' };
  assert.deepEqual(parseHostSettings({ swarm_registry: registry }, 'config.yaml', {}).swarmRegistry, {
    address: '10.0.0.2:5000',
    username: 'u',
    passwordFile: '/etc/berth/registry-password',
  });
  assert.throws(
    () => parseHostSettings({ swarm_registry: { ...registry, password_file: 'pw.txt' } }, 'config.yaml', {}),
    (e: unknown) =>
      e instanceof BerthError && /swarm_registry.password_file: expected an absolute path/.test(e.message),
  );
});

test("swarmFit: a managed database is a host dependency, unless the dependent's env names its URL; a pin by hostname keeps a volume", () => {
  const m = (web: string) =>
    parseManifest(`app: shop\nservices:\n  db:\n    postgres: 15\n  web:\n${WEB}${web}`, 'berth.yaml');
  assert.throws(
    () => swarmFit(m('    depends_on: [db]\n')),
    (e: unknown) => e instanceof BerthError && e.code === 'swarm_host_dependency' && /depends on db/.test(e.message),
  );
  swarmFit(m('    depends_on: [db]\n    env: { DB_URL: "postgres://db.internal:5432/shop" }\n'));
  swarmFit(m('    volumes: { /data: media }\n    placement: { constraints: ["node.hostname==n1"] }\n'));
  assert.throws(
    () => swarmFit(m('    volumes: { /data: media }\n    placement: { constraints: ["node.role==worker"] }\n')),
    (e: unknown) => e instanceof BerthError && e.code === 'swarm_volume_unpinned',
  );
});
