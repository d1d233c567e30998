import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { SwarmTask } from '../../src/runtime/swarm-types.js';
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

/**
 * Every task Swarm keeps of an app (its history too: the tasks a deploy replaced, a node drained, a check killed),
 * one a line with its release, slot, node, states, exit code and error, oldest first; for a stopped task whose check
 * failed, the last checks its node's engine kept (when, how long, exit code, output). A failure under load then says
 * whether the app's own tasks failed while requests went to them, and why.
 */
export async function taskHistory(swarm: TestSwarm, app: string): Promise<string> {
  const filters = encodeURIComponent(JSON.stringify({ label: [`berth.app=${app}`] }));
  const tasks = await swarm.manager.dockerd.engine.call<Array<SwarmTask & { UpdatedAt?: string }>>(
    'GET',
    `/tasks?filters=${filters}`,
  );
  const names = new Map((await swarm.manager.swarm.nodes()).map((n) => [n.ID, n.Spec.Name]));
  const lines = await Promise.all(
    tasks.map(async (t) => {
      const at = Math.floor(Date.parse(t.UpdatedAt ?? '') / 1000);
      const release = t.Spec.ContainerSpec.Labels?.['berth.release'] ?? '?';
      const exit = t.Status.ContainerStatus?.ExitCode;
      const node = names.get(t.NodeID ?? '') ?? t.NodeID ?? '-';
      const line = `${at} r${release}.${t.Slot ?? '-'} on ${node} ${t.Status.State}/${t.DesiredState}${exit ? ` exit ${exit}` : ''}${t.Status.Err ? `: ${t.Status.Err}` : ''}`;
      const id = t.Status.ContainerStatus?.ContainerID;
      const engine = swarm.nodes.find((n) => n.name === node)?.dockerd.engine;
      if (t.Status.State === 'running' || !id || !engine) return line;
      const checks = await engine
        .call<{ State: { Health?: { Log?: HealthCheck[] } } }>('GET', `/containers/${id}/json`)
        .then((c) => {
          const log = c.State.Health?.Log ?? [];
          return log.some((x) => x.ExitCode !== 0) ? log.map(describeCheck).join('') : '';
        })
        .catch((err: unknown) => `\n  (its checks: ${String(err)})`);
      return line + checks;
    }),
  );
  return lines.sort().join('\n');
}

interface HealthCheck {
  readonly Start: string;
  readonly End: string;
  readonly ExitCode: number;
  readonly Output: string;
}

const describeCheck = (c: HealthCheck) =>
  `\n  check at ${c.Start.slice(11, 23)}: ${Date.parse(c.End) - Date.parse(c.Start)} ms, exit ${c.ExitCode}: ${c.Output.trim().slice(0, 300)}`;
