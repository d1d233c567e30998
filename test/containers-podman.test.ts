import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { containerLifecycle } from './helpers/container-lifecycle.js';
import { mixedStack } from './helpers/mixed-stack.js';
import { TestPodman } from './helpers/podman.js';

/**
 * Podman's Docker-compatible API (`podman system service`, Debian's podman 4.3) in place of
 * dockerd: the same lifecycle test, unchanged, then the mixed stack (processes and containers in one
 * manifest) on the same service. Podman makes a network's bridge only when its first container joins
 * it: Berth makes it first, so the gateway listeners bind before (runtime/network-bridge.ts).
 * scripts/test.sh installs podman.
 */
const podman = new TestPodman(mkdtempSync(path.join(tmpdir(), 'berth-podman-')));
containerLifecycle(podman, '32500-32599');
mixedStack(podman, '27400-27499', { redeploy: false }); // redeploys and a kill -9 on Podman: the lifecycle's tests
