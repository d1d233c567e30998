import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { ServiceSpec } from '../../config/manifest-types.js';
import { BerthError } from '../../core/errors.js';
import { tailLines } from '../../runtime/log-files.js';
import { runCommand } from '../../system/command.js';
import { resolveUnder } from '../../system/paths.js';
import { baseEnv } from '../launch-env.js';

const BUILD_TIMEOUT_MS = 30 * 60_000;

/**
 * Runs each service's build commands in the fresh release directory (the service's cwd
 * inside it, a static service's too), in manifest order, output to `logFile`. Nothing of an earlier build is
 * there to hide a missing dependency. The first failing command fails the build with its
 * last log lines.
 */
export async function runBuilds(
  services: readonly ServiceSpec[],
  releaseDir: string,
  logFile: string,
  secrets: Readonly<Record<string, string>> = {},
  user?: { uid: number; gid: number },
  redact: (text: string) => string = (t) => t,
  base: { PATH: string; HOME: string } = baseEnv(),
): Promise<void> {
  mkdirSync(path.dirname(logFile), { recursive: true, mode: 0o750 });
  for (const spec of services) {
    const cwd = resolveUnder(releaseDir, spec.cwd);
    for (const command of spec.build) {
      const env = {
        ...base,
        ...spec.env,
        ...secrets,
      };
      // The build log is written by Berth, so secret values never reach it.
      const r = await runCommand(['sh', '-c', command], {
        cwd,
        env,
        logFile,
        timeoutMs: BUILD_TIMEOUT_MS,
        redact,
        uid: user?.uid,
        gid: user?.gid,
      });
      if (r.code !== 0) {
        const lines = tailLines(logFile, 10)
          .map((l) => `  ${l}`)
          .join('\n');
        throw new BerthError(
          'failed',
          'build_failed',
          `build of ${spec.name} failed: \`${command}\` ${r.signal ? `was killed by ${r.signal}` : `exited with code ${r.code}`}; last log lines:\n${lines}`,
          {
            hint: `see ${logFile}`,
          },
        );
      }
    }
  }
}
