import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import type { ApiDeps } from '../api/deps.js';
import { loadHostSettings } from '../config/host-settings.js';
import { ManifestThread } from '../config/manifest-thread.js';
import { Apps } from '../engine/apps.js';
import { Images } from '../engine/images.js';
import { finishSwaps } from '../engine/instance-swap.js';
import { InstanceManager } from '../engine/instance-manager.js';
import { BootRecovery } from '../engine/boot-recovery.js';
import { PortAllocator } from '../engine/port-allocator.js';
import { findLeaderByMarker, processScans } from '../runtime/process-table.js';
import { containerRunner } from '../runtime/container-runner.js';
import { Cluster } from '../engine/cluster.js';
import { RouteSync } from '../engine/route-sync.js';
import { Deployer } from '../engine/deploy/deployer.js';
import { Environments } from '../engine/environments.js';
import { Identity } from '../auth/identity.js';
import { SecretBox } from '../auth/secret-box.js';
import { Secrets } from '../engine/secrets.js';
import { Webhooks } from '../engine/webhooks.js';
import { AppUsers } from '../engine/app-users.js';
import { Sites } from '../engine/sites.js';
import { Notifier } from '../engine/notifier.js';
import { Store } from '../store/store.js';
import type { StoreLocation } from '../store/store-url.js';
import { campaign, followUntilLeading, lostLead } from './leadership.js';
import { berthHome, HomeLayout } from '../system/paths.js';
import { acquirePidFile, releasePidFile } from './pidfile.js';
import { daemonLogger } from './logger.js';
import { makeObservability } from './observability.js';
import { serveApi } from './serve.js';
import { startUpkeep, sweepUploads, Timer } from './upkeep.js';
import { gatewaysKnown, startProxy, warnIfEphemeral } from './proxy-start.js';
import { VERSION } from '../version.js';
import { ReleaseExec } from '../engine/release-exec.js';
import { SwarmDeploys } from '../engine/swarm-deploys.js';
import { CronScheduler } from '../engine/cron/scheduler.js';
import { CronClock } from '../engine/cron/clock.js';
import { Backups } from '../engine/backup/backups.js';
import { BackupScheduler } from '../engine/backup/schedule.js';
import { Restores } from '../engine/backup/restore.js';

/**
 * berthd: the composition root. Takes the pid file, opens the store (migrations run),
 * adopts live instances, then serves the API on the unix socket. It never stops apps when
 * it exits: they run on, and the next berthd adopts them.
 */
async function main(): Promise<void> {
  const layout = new HomeLayout(berthHome());
  mkdirSync(layout.root, { recursive: true, mode: 0o700 });
  const loaded: { secrets?: Secrets } = {}; // the log exists before the secrets are read
  const log = daemonLogger(loaded);
  const lock = acquirePidFile(layout.pidFile);
  if (!lock.ok) {
    log.info({ holder: lock.pid }, 'another berthd already runs for this BERTH_HOME');
    process.exit(0);
  }
  const settings = await loadHostSettings(layout.settings);
  warnIfEphemeral(settings.portRange, log);
  const { proxy, started: proxyStarted } = await startProxy(layout.root, settings, log);
  // What follows runs on promises already settled: one turn of the event loop lets the proxy bind and spawn first.
  await new Promise((resolve) => setImmediate(resolve));
  const storeAt: StoreLocation = settings.store
    ? { kind: 'postgres', url: settings.store }
    : { kind: 'sqlite', file: layout.store };
  const store = await Store.open(storeAt);
  // Several berthd may share a PostgreSQL store: the one that leads acts (recovery, deploys, schedules), the others answer reads.
  const leadership = await campaign(storeAt, { apiListen: settings.apiListen, log, lost: (why) => lostLead(log, why) });
  const markerPrefix = createHash('sha256').update(layout.root).digest('hex').slice(0, 12);
  const box = new SecretBox(path.join(layout.root, 'secrets.key'));
  const secrets = new Secrets(store, box);
  loaded.secrets = secrets;
  await secrets.refresh();
  const secretEnv = (app: string, env: string) => secrets.forEnvironment(app, env);
  const users = new AppUsers(layout, settings.appUsers);
  const containers = containerRunner(settings.containerEngine, markerPrefix);
  const instances = new InstanceManager({
    store,
    layout,
    log,
    markerPrefix,
    host: settings.host,
    secretEnv,
    users,
    appPath: settings.appPath,
    rotation: { maxBytes: settings.logMaxBytes, keep: settings.logKeep },
    containers,
    databaseSecret: (app, env, name, make) => secrets.ensure(app, env, name, make),
  });
  const ports = new PortAllocator(settings.host, settings.portRange);
  const networks = containers?.networks;
  const routes = new RouteSync({ store, proxy, log, networkOf: networks && ((a, e) => networks.known(a, e)) });
  networks?.onAdded(() => routes.sync()); // a container's dependencies are on its gateway before it starts
  await gatewaysKnown(networks, log);
  const swarm = SwarmDeploys.open(settings, containers?.engine, markerPrefix, routes, log);
  const obs = makeObservability({ settings, store, proxy, layout, markerPrefix, log, instances, secrets, containers });
  const expiry = new Timer();
  const exec = new ReleaseExec({
    store,
    layout,
    markerPrefix,
    users,
    secretEnv,
    appPath: settings.appPath,
    databases: (app, env) => instances.databases.connections(app, env),
  });
  const cron = new CronScheduler({
    store,
    layout,
    exec,
    clock: CronClock.fromEnv(process.env),
    log,
    users,
    rotation: { maxBytes: settings.logMaxBytes, keep: settings.logKeep },
    redact: (app, text) => secrets.forApp(app).redact(text),
  });
  const notifier = new Notifier({ allow: settings.outboundAllow, store, log, secrets });
  const backups = new Backups({
    store,
    layout,
    log,
    secretEnv,
    notify: (urls, n) => notifier.send(urls, n),
    redact: (app, text) => secrets.forApp(app).redact(text),
    databases: instances.databases,
  });
  const backupSchedule = new BackupScheduler({ store, backups, clock: CronClock.fromEnv(process.env), log });
  const manifests = new ManifestThread({ maxServices: settings.maxServices });
  const deployer = new Deployer({
    parseManifest: manifests.parse,
    store,
    layout,
    instances,
    ports,
    routes,
    proxy,
    log,
    keepReleases: settings.releasesKeep,
    engine: containers?.engine,
    engineHome: markerPrefix,
    swarm,
    appPath: settings.appPath,
    doctor: obs.doctor,
    secretEnv,
    users,
    onFinished: (r, manifest) => {
      expiry.poke();
      cron.poke(); // its release may bring jobs
      backupSchedule.poke(); // and a backup schedule
      obs.alerts?.poke(); // deploy_failed opens or clears
      if (manifest.notify.length)
        void notifier.send(manifest.notify, {
          app: r.app,
          env: r.env,
          kind: r.kind,
          status: r.status,
          release: r.release,
          ...(r.error ? { error: r.error } : {}),
        });
    },
  });
  const images = new Images({ store, engine: containers?.engine, home: markerPrefix, locks: deployer.locks, log });
  const apps = new Apps({
    images,
    store,
    layout,
    instances,
    ports,
    proxy,
    routesChanged: () => routes.sync(),
    locks: deployer.locks,
    users,
    cron,
    swarm: swarm?.tasks,
  });
  routes.follow(instances);
  const environments = new Environments({ store, layout, instances, routes, deployer, log, users, cron, images });
  // Environments whose every process is gone (a reboot) start in dependency order once the API answers.
  const reboot = new BootRecovery({
    store,
    instances,
    ports,
    proxy,
    routesChanged: () => routes.sync(),
    locks: deployer.locks,
    log,
  });
  const sites = new Sites({
    store,
    layout,
    deployer,
    apps,
    templatesDir: settings.templatesDir,
    domain: settings.sitesDomain,
    log,
  });
  const restores = new Restores({
    store,
    layout,
    backups,
    instances,
    locks: deployer.locks,
    routesChanged: () => routes.sync(),
    log,
    users,
  });
  /** What acts on the store's state, in this order; the leader's alone. */
  const recover = async () => {
    await deployer.recover();
    await instances.adoptAll(findLeaderByMarker, reboot.claim);
    await finishSwaps({ store, instances });
    await environments.recoverTrash();
    await sites.recover();
    sweepUploads(layout.root);
    await cron.start();
    await restores.recover(); // a restore berthd was killed in: finished or undone before anything else touches the data
    await backupSchedule.start();
  };
  if (leadership.leading) await recover();
  const routesServed = routes.sync().catch(() => undefined); // pushed once the proxy is up

  const started = Date.now();
  let stopping = false;
  const served: { api?: { close(): Promise<void> } } = {};
  const shutdown = (): void => {
    if (stopping) return;
    stopping = true;
    log.info('berthd stopping; apps keep running');
    cron.stop();
    backupSchedule.stop();
    obs.stop();
    manifests.close();
    void (served.api?.close() ?? Promise.resolve()).finally(async () => {
      await leadership.close();
      await store.close();
      releasePidFile(layout.pidFile);
      process.exit(0);
    });
  };
  const webhooks = new Webhooks({ store, box, deployer, environments, outboundAllow: settings.outboundAllow, log });
  const apiDeps: ApiDeps = {
    manifests,
    apps,
    deployer,
    environments,
    images,
    cluster: Cluster.ofEngine(containers?.engine),
    identity: new Identity(store),
    secrets,
    webhooks,
    sites,
    layout,
    store,
    instances,
    exec,
    cron,
    backups,
    restores,
    proxy,
    ...obs.apiDeps(),
    settingsFile: layout.settings,
    shutdown,
    info: () => ({
      pid: process.pid,
      home: layout.root,
      version: VERSION,
      uptimeMs: Date.now() - started,
      procScans: processScans(),
      store: store.counters,
      leadership: leadership.leading ? 'leader' : 'follower',
      httpPort: settings.httpPort,
    }),
  };
  // The API is built while the proxy comes up; it answers once routes are served.
  served.api = await serveApi(apiDeps, {
    socket: layout.socket,
    settings,
    log,
    after: Promise.all([proxyStarted, routesServed]),
    writes: () => leadership.assertLeading(),
  });
  log.info({ socket: layout.socket, version: VERSION, leading: leadership.leading }, 'berthd ready');
  const act = () => {
    if (reboot.pending > 0) void reboot.run();
    startUpkeep({ instances, proxy, log, expiry, expire: () => environments.expire() });
    obs.startAlerts();
  };
  if (leadership.leading) act();
  else followUntilLeading(leadership, log, async () => (await recover(), await routes.sync(), act()));
  obs.start();
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

main().catch((err) => {
  console.error(`berthd: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
