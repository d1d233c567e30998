import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { containerLifecycle } from './helpers/container-lifecycle.js';
import { TestPodman } from './helpers/podman.js';

/**
 * Podman's Docker-compatible API (`podman system service`, Debian's podman 4.3) in place of
 * dockerd: the same lifecycle test, unchanged. scripts/test.sh installs podman.
 */
containerLifecycle(new TestPodman(mkdtempSync(path.join(tmpdir(), 'berth-podman-'))), '32500-32599');
