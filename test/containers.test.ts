import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { containerLifecycle } from './helpers/container-lifecycle.js';
import { TestDockerd } from './helpers/dockerd.js';

containerLifecycle(new TestDockerd(mkdtempSync(path.join(tmpdir(), 'berth-dockerd-'))), '31400-31499');
