import path from 'node:path';
import { ApiClient, ApiError } from '../api/client.js';
import { berthHome, HomeLayout } from '../system/paths.js';
import type { DeployResult } from '../core/results.js';
import { remoteTarget } from './credentials.js';
import { finish, reportError } from './deploy-output.js';

/** A `berth deploy` or `berth up` in one of the forms the fast path takes. */
interface FastDeploy {
  readonly dir: string;
  readonly env?: string;
  readonly wait: boolean;
  readonly force: boolean;
  readonly json: boolean;
}

/**
 * `berth deploy [dir] [--env <name>] [--wait] [--force] [--json]` and `berth up [dir] [--wait] [--force] [--json]`,
 * read strictly: anything else (other options, `--env=x`, help, a second argument) is undefined, for the whole CLI.
 */
export function parseFastDeploy(argv: readonly string[]): FastDeploy | undefined {
  const [command, ...rest] = argv;
  if (command !== 'deploy' && command !== 'up') return undefined;
  let dir: string | undefined;
  let env: string | undefined;
  const flags = { wait: false, force: false, json: false };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] as string;
    if (arg === '--wait' || arg === '--force' || arg === '--json') flags[arg.slice(2) as keyof typeof flags] = true;
    else if (arg === '--env' && command === 'deploy' && env === undefined && /^[^-]/.test(rest[i + 1] ?? '-'))
      env = rest[++i];
    else if (/^[^-]/.test(arg) && dir === undefined) dir = arg;
    else return undefined;
  }
  return { dir: dir ?? '.', ...(env !== undefined ? { env } : {}), ...flags };
}

/**
 * `berth deploy` and `berth up` as most run them: the request goes out before the rest of the CLI (commander, every
 * other command: ~40 % of a CLI call's own CPU) is even read (bin/berth.js loads this bundle first, issue 14).
 * Returns false, having sent nothing, when the whole CLI must do it: another form, a remote berthd, a terminal (live
 * steps), or no berthd answering here (the whole CLI starts it).
 */
export async function fastDeploy(argv: readonly string[]): Promise<boolean> {
  const req = parseFastDeploy(argv);
  if (!req || (!req.json && process.stdout.isTTY === true)) return false;
  let client: ApiClient;
  try {
    if (remoteTarget()) return false;
    client = new ApiClient(new HomeLayout(berthHome()).socket);
  } catch {
    return false; // a bad BERTH_HOME: the whole CLI says what is wrong
  }
  const body = {
    dir: path.resolve(req.dir),
    ...(req.env !== undefined ? { env: req.env } : {}),
    ...(req.wait ? { wait: true } : {}),
    ...(req.force ? { force: true } : {}),
  };
  const io = {
    client,
    json: () => req.json,
    print: (value: unknown, human: () => string) =>
      void process.stdout.write(req.json ? JSON.stringify(value, null, 2) + '\n' : human() + '\n'),
  };
  try {
    await finish(io, await client.call<DeployResult>('POST', '/v1/deployments', body));
  } catch (err) {
    if (err instanceof ApiError && err.code === 'unreachable') return false; // the connection failed: nothing was sent
    reportError(err, req.json);
  }
  return true;
}
