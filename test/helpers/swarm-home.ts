import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { assertOk, type TestHome } from './home.js';
import type { TestSwarm } from './swarm-cluster.js';

/**
 * A test home deploying onto a TestSwarm: berthd on the manager's engine with `scheduler: swarm` and the swarm's
 * registry as swarm_registry (its password in a file of the home). Call after `swarm.start()`, before the daemon starts.
 */
export function homeOnSwarm(home: TestHome, swarm: TestSwarm): void {
  home.env.BERTH_CONTAINER_ENGINE = `unix://${swarm.manager.dockerd.socket}`;
  home.env.BERTH_SCHEDULER = 'swarm';
  mkdirSync(home.home, { recursive: true });
  const password = path.join(home.home, 'registry-password');
  writeFileSync(password, swarm.registry.password, { mode: 0o600 });
  writeFileSync(
    path.join(home.home, 'config.yaml'),
    `swarm_registry: { address: "${swarm.registry.address}", username: ${swarm.registry.user}, password_file: ${password} }\n`,
  );
}

/** A swarm, then berthd of `home` deploying onto it (homeOnSwarm). */
export async function startBerthOnSwarm(home: TestHome, swarm: TestSwarm): Promise<void> {
  await swarm.start();
  homeOnSwarm(home, swarm);
  assertOk(await home.cli('daemon', 'start'));
}

/** Removes `home` (its apps, berthd), then the swarm, even when the first fails. */
export async function stopBerthOnSwarm(home: TestHome, swarm: TestSwarm | undefined): Promise<void> {
  try {
    await home.cleanup();
  } finally {
    await swarm?.cleanup();
  }
}

/** Builds web:<tag> (busybox httpd) serving `text` at / (and /health unless `healthy` is false) and pushes it. */
export async function publishWeb(swarm: TestSwarm, tag: string, text: string, healthy = true): Promise<void> {
  const ref = `${swarm.registry.address}/web:${tag}`;
  await swarm.manager.dockerd.buildImage(ref, { 'index.html': text, ...(healthy ? { health: 'ok' } : {}) });
  await swarm.registry.push(swarm.manager.dockerd.engine, ref);
}

/**
 * The berth.yaml of an app whose service `web` runs web:<tag> from the swarm's registry (the app's secret
 * REGISTRY_PASSWORD logs in): 3 replicas spread over the nodes, healthy on /health, `run` as its command.
 */
export function webApp(
  swarm: TestSwarm | undefined,
  o: { app: string; tag: string; run: string; routes: string },
): string {
  return `app: ${o.app}
services:
  web:
    image: ${swarm?.registry.address}/web:${o.tag}
    registry_auth: { username: swarm, password_secret: REGISTRY_PASSWORD }
    container_port: 8080
    replicas: 3
    placement: { spread: node, max_per_node: 2 }
    run: "${o.run}"
    health: { http: /health, start_timeout: 4s, interval: 1s, unhealthy_threshold: 2 }
    drain: 2s
    stop_timeout: 5s
    routes: ${o.routes}
`;
}
