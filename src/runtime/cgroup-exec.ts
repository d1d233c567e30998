import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Built from src/native/cgroup-exec.c by `npm run build` (scripts/build-native.sh). */
const HELPER = fileURLToPath(new URL('../native/cgroup-exec', import.meta.url));
let built = false;

/**
 * The argv that runs `argv` inside the cgroups whose cgroup.procs files are `procs`, as `uid`:`gid`
 * (see src/native/cgroup-exec.c): the process joins them before the app's first instruction, so
 * nothing it forks ever runs outside its limits. It must be started as root (berthd is).
 */
export function inCgroups(
  procs: readonly string[],
  argv: readonly string[],
  uid: number | undefined,
  gid: number | undefined,
): string[] {
  if (!built && !existsSync(HELPER))
    throw new Error(
      `${HELPER} is missing: build Berth with \`npm run build\` (it needs a C compiler: apt-get install build-essential)`,
    );
  built = true;
  const id = (n: number | undefined) => (n === undefined ? '-' : String(n));
  return [HELPER, id(uid), id(uid === undefined ? gid : (gid ?? uid)), ...procs, '--', ...argv];
}
