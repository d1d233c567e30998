import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import pino from 'pino';
import { buildApi } from '../api/server.js';
import type { ApiDeps } from '../api/deps.js';
import type { FastifyInstance } from 'fastify';
import { loadHostSettings, type HostSettings } from '../config/host-settings.js';
import { ManifestThread } from '../config/manifest-thread.js';
import type { Proxy } from '../proxy/proxy.js';
import { Apps } from '../engine/apps.js';
import { Images } from '../engine/images.js';
import { engineDiskUse } from '../engine/engine-disk.js';
import { engineFirewall } from '../engine/engine-firewall.js';
import { finishSwaps } from '../engine/instance-swap.js';
import { InstanceManager } from '../engine/instance-manager.js';
import { BootRecovery } from '../engine/boot-recovery.js';
import { PortAllocator } from '../engine/port-allocator.js';
import { findLeaderByMarker, processScans } from '../runtime/process-table.js';
import { containerRunner } from '../runtime/container-runner.js';
import { BuiltinProxy } from '../proxy/builtin/builtin-proxy.js';
import { RouteSync } from '../engine/route-sync.js';
import { hasAddress } from '../engine/service-addresses.js';
import { Deployer } from '../engine/deploy/deployer.js';
import { Environments } from '../engine/environments.js';
import { Identity } from '../auth/identity.js';
import { SecretBox } from '../auth/secret-box.js';
import { Secrets } from '../engine/secrets.js';
import { Webhooks } from '../engine/webhooks.js';
import { AppUsers } from '../engine/app-users.js';
import { Sites } from '../engine/sites.js';
import { Notifier } from '../engine/notifier.js';
import { diagnose } from '../doctor/doctor.js';
import { gatherFacts } from '../doctor/facts.js';
import { Store } from '../store/store.js';
import { berthHome, HomeLayout } from '../system/paths.js';
import { acquirePidFile, releasePidFile } from './pidfile.js';
import { EventLoopStats } from './event-loop-stats.js';
import { IdleGc } from './idle-gc.js';
import { VERSION } from '../version.js';
import { removeTree } from '../system/safe-tree.js';
import { ReleaseExec } from '../engine/release-exec.js';
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
  const log = pino({
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Secret values never reach berthd's own log either: a line about an app is redacted with that app's own.
    hooks: {
      logMethod(args, method) {
        const about: unknown = typeof args[0] === 'object' ? (args[0] as { app?: unknown } | null)?.app : undefined;
        const scope = typeof about === 'string' ? [about] : [];
        method.apply(this, args.map((a) => loaded.secrets?.redact(a, scope) ?? a) as Parameters<typeof method>);
      },
    },
  });
  const lock = acquirePidFile(layout.pidFile);
  if (!lock.ok) {
    log.info({ holder: lock.pid }, 'another berthd already runs for this BERTH_HOME');
    process.exit(0);
  }
  const settings = loadHostSettings(layout.settings);
  warnIfEphemeral(settings.portRange, log);
  // The proxy's processes (a keeper, then the proxy: two Node starts) are the longest part of berthd's start: they
  // start first and come up while berthd opens its store, recovers and builds its API; the API answers once
  // routes are served. They need no store: a proxy serves the table it last had until berthd pushes one.
  await retirePreviousProxy(layout.root, settings, log);
  const proxy = await makeProxy(layout.root, settings, log);
  const proxyStarted = proxy
    .watch()
    .catch((err) =>
      log.error(
        { err: err instanceof Error ? err.message : String(err) },
        'the proxy does not start; berthd serves on without it (see berth proxy status)',
      ),
    );
  // What follows runs on promises already settled: one turn of the event loop lets the proxy bind and spawn first.
  await new Promise((resolve) => setImmediate(resolve));
  const store = await Store.openSqlite(layout.store);
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
  // Known before the first table: else the proxy would drop the containers' gateway listeners until each starts again.
  await networks
    ?.refreshWithin(3000)
    .catch((err: unknown) =>
      log.warn(
        { err: err instanceof Error ? err.message : String(err) },
        'container networks not read from the engine',
      ),
    );
  const doctor = async (app?: string) =>
    diagnose(
      await gatherFacts({
        store,
        home: layout.root,
        markerPrefix,
        proxyTable: await proxy.current(),
        logFile: (v) => instances.logFile(v),
        certDir: settings.proxy === 'nginx' ? settings.certDir : undefined,
        // For one app (a deploy's pre-flight): what only makes findings about no app is not looked at.
        edgeRoutes: app === undefined ? await proxy.edgeRoutes?.().catch(() => []) : [],
        tlsHandshakes: proxy.tlsHandshakes?.bind(proxy),
        proxyLeftovers: app === undefined ? proxy.leftovers?.() : [],
        app,
        engineDisk: containers && {
          read: () => engineDiskUse(containers.engine),
          warnAt: settings.containerDiskWarn,
        },
        engineFirewall: containers && (() => engineFirewall(containers.engine)),
      }),
      app,
    );
  const expiry = new Timer();
  const exec = new ReleaseExec({ store, layout, markerPrefix, users, secretEnv, appPath: settings.appPath });
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
    appPath: settings.appPath,
    doctor,
    secretEnv,
    users,
    onFinished: (r, manifest) => {
      expiry.poke();
      cron.poke(); // its release may bring jobs
      backupSchedule.poke(); // and a backup schedule
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
  });
  instances.onStateChange((v, from, to) => {
    if (from !== 'healthy' && to !== 'healthy') return;
    if (v.current) routes.syncQuietly();
    // A release not current yet (a deploy's new one) when a service address spreads over its instances.
    else
      hasAddress(store, v).then(
        (yes) => yes && routes.syncQuietly(),
        () => undefined,
      );
  });
  const environments = new Environments({ store, layout, instances, routes, deployer, log, users, cron, images });
  await deployer.recover();
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
  await instances.adoptAll(findLeaderByMarker, reboot.claim);
  await finishSwaps({ store, instances });
  await environments.recoverTrash();
  const sites = new Sites({
    store,
    layout,
    deployer,
    apps,
    templatesDir: settings.templatesDir,
    domain: settings.sitesDomain,
    log,
  });
  await sites.recover();
  sweepUploads(layout.root);
  const routesServed = routes.sync().catch(() => undefined); // pushed once the proxy is up
  await cron.start();
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
  await restores.recover(); // a restore berthd was killed in: finished or undone before anything else touches the data
  await backupSchedule.start();

  const started = Date.now();
  let stopping = false;
  const shutdown = (): void => {
    if (stopping) return;
    stopping = true;
    log.info('berthd stopping; apps keep running');
    cron.stop();
    backupSchedule.stop();
    manifests.close();
    void Promise.all([api.close(), remoteApi?.close()]).finally(async () => {
      await store.close();
      releasePidFile(layout.pidFile);
      process.exit(0);
    });
  };
  const identity = new Identity(store);
  const webhooks = new Webhooks({ store, box, deployer, environments, outboundAllow: settings.outboundAllow, log });
  const apiDeps: ApiDeps = {
    manifests,
    apps,
    deployer,
    environments,
    images,
    identity,
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
    doctor,
    settingsFile: layout.settings,
    shutdown,
    eventLoop: EventLoopStats.fromEnv(process.env),
    info: () => ({
      pid: process.pid,
      home: layout.root,
      version: VERSION,
      uptimeMs: Date.now() - started,
      procScans: processScans(),
      httpPort: settings.httpPort,
    }),
  };
  const api = buildApi(apiDeps);
  const idleGc = new IdleGc();
  api.addHook('onResponse', async () => idleGc.poke());
  try {
    unlinkSync(layout.socket); // we hold the pid file, so any socket file here is stale
  } catch {
    // none
  }
  await proxyStarted;
  await routesServed;
  await api.listen({ path: layout.socket });
  let remoteApi: FastifyInstance | undefined;
  if (settings.apiListen) {
    // The same routes over TCP, where only tokens and sessions count: nobody there is root on the host.
    const at = settings.apiListen.lastIndexOf(':');
    const host = settings.apiListen.slice(0, at).replace(/^\[|\]$/g, '');
    remoteApi = buildApi(apiDeps, {
      local: false,
      https: settings.apiTls
        ? { cert: readFileSync(settings.apiTls.cert), key: readFileSync(settings.apiTls.key) }
        : undefined,
    });
    remoteApi.addHook('onResponse', async () => idleGc.poke());
    await remoteApi.listen({ host, port: Number(settings.apiListen.slice(at + 1)) });
    log.info({ listen: settings.apiListen, tls: Boolean(settings.apiTls) }, 'API served over TCP');
  }
  chmodSync(layout.socket, 0o600);
  log.info({ socket: layout.socket, version: VERSION }, 'berthd ready');
  idleGc.poke(); // its start's garbage, once it is quiet
  if (reboot.pending > 0) void reboot.run();

  let round = 0;
  setInterval(() => instances.pollAdopted(++round % 10 === 0), 1000).unref();
  setInterval(
    () =>
      void proxy
        .watch()
        .catch((err) => log.error({ err: err instanceof Error ? err.message : String(err) }, 'proxy watch failed')),
    1000,
  ).unref();
  // Idle previews past their `expire`: checked when the next one is due (at least once a minute), and after every deployment.
  expiry.run(() =>
    environments
      .expire()
      .catch(
        (err) => (
          log.warn({ err: err instanceof Error ? err.message : String(err) }, 'expiring environments failed'),
          60_000
        ),
      ),
  );
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}

/** Uploads berthd was writing or replacing when it stopped: never deployed, never needed. */
function sweepUploads(home: string): void {
  const root = path.join(home, 'uploads');
  removeTree(path.join(root, '.staging'));
  if (!existsSync(root)) return;
  for (const name of readdirSync(root)) if (/\.old-\d+-\d+$/.test(name)) removeTree(path.join(root, name));
}

/** Runs a task again after the delay it returns, or at once when poked (never two at a time). */
class Timer {
  #task: (() => Promise<number>) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #again = false;

  run(task: () => Promise<number>): void {
    this.#task = task;
    this.poke();
  }

  poke(): void {
    if (!this.#task) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#running = true;
    void this.#task().then((next) => {
      this.#running = false;
      if (this.#again) {
        this.#again = false;
        this.poke();
      } else this.#timer = setTimeout(() => this.poke(), next).unref();
    });
  }
}

/**
 * When the settings name another proxy than last time, stop the edge that served until
 * now (it holds the HTTP port); the new proxy then gets every route at start.
 */
async function retirePreviousProxy(home: string, settings: HostSettings, log: pino.Logger): Promise<void> {
  const marker = path.join(home, 'proxy', 'kind');
  let previous = 'builtin';
  try {
    previous = readFileSync(marker, 'utf8').trim();
  } catch {
    // first start
  }
  if (previous !== settings.proxy) {
    log.info({ from: previous, to: settings.proxy }, 'proxy changed: stopping the previous one');
    const ports = { httpPort: settings.httpPort, httpsPort: settings.httpsPort, upstreamPort: settings.internalPort };
    // The edges' modules are loaded only where one runs or ran (see makeProxy).
    const { NginxEdge } = await import('../proxy/nginx/nginx-edge.js');
    const { CaddyEdge } = await import('../proxy/caddy/caddy-edge.js');
    if (previous === 'nginx')
      await new NginxEdge({
        home,
        log,
        binary: settings.nginx.binary,
        certDir: settings.certDir,
        attach: settings.nginx.attach,
        ...ports,
      })
        .stop()
        .catch(() => undefined);
    if (previous === 'caddy')
      await new CaddyEdge({ home, log, binary: settings.caddy.binary, admin: settings.caddy.admin, ...ports })
        .stop()
        .catch(() => undefined);
  }
  mkdirSync(path.dirname(marker), { recursive: true, mode: 0o700 });
  writeFileSync(marker, settings.proxy + '\n');
}

/**
 * The proxy the settings ask for: the builtin one alone, or behind an edge server. An edge's
 * modules (Caddy's admin client, TLS probes) are loaded only when one is asked for.
 */
async function makeProxy(home: string, settings: HostSettings, log: pino.Logger): Promise<Proxy> {
  const upstreamTimeoutMs = settings.upstreamTimeoutMs;
  if (settings.proxy === 'builtin')
    return new BuiltinProxy({ home, port: settings.httpPort, address: settings.httpAddress, log, upstreamTimeoutMs });
  const { EdgeProxy } = await import('../proxy/edge/edge-proxy.js');
  const { NginxEdge } = await import('../proxy/nginx/nginx-edge.js');
  const { CaddyEdge } = await import('../proxy/caddy/caddy-edge.js');
  const inner = new BuiltinProxy({ home, port: settings.internalPort, address: '127.0.0.1', log, upstreamTimeoutMs });
  const ports = { httpPort: settings.httpPort, httpsPort: settings.httpsPort, upstreamPort: settings.internalPort };
  const edge =
    settings.proxy === 'caddy'
      ? new CaddyEdge({
          home,
          log,
          binary: settings.caddy.binary,
          admin: settings.caddy.admin,
          acmeEmail: settings.caddy.acmeEmail,
          acmeCa: settings.caddy.acmeCa,
          acmeCaRoot: settings.caddy.acmeCaRoot,
          ...ports,
        })
      : new NginxEdge({
          home,
          log,
          binary: settings.nginx.binary,
          certDir: settings.certDir,
          attach: settings.nginx.attach,
          ...ports,
        });
  return new EdgeProxy(inner, edge);
}

/** Ports the kernel hands to outgoing connections can be taken by them at any moment. */
function warnIfEphemeral(range: { low: number; high: number }, log: pino.Logger): void {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number) as [number, number];
    if (range.low <= high && range.high >= low)
      log.warn(
        { range, ephemeral: [low, high] },
        "port_range overlaps the kernel's ephemeral ports: outgoing connections may take a leased port; choose a range below it",
      );
  } catch {
    // not Linux, or unreadable
  }
}

main().catch((err) => {
  console.error(`berthd: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
