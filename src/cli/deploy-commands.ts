import type { Command } from 'commander';
import path from 'node:path';
import type { ApiClient } from '../api/client.js';
import { ApiError } from '../api/client.js';
import { table } from './render.js';
import { finish, MARK } from './deploy-output.js';
import { collectUpload } from './upload.js';
import type { DeployResult, StepResult } from '../core/results.js';

interface Io {
  readonly client: ApiClient;
  readonly ready: () => Promise<void>;
  /** One API call; when berthd does not run here, starts it and calls again. */
  readonly call: <T>(method: 'POST', route: string, body: unknown) => Promise<T>;
  readonly print: (value: unknown, human: () => string) => void;
  readonly json: () => boolean;
}

/**
 * Sends a deployment request; in a terminal, prints each step as it starts and ends. No
 * round trip before it: berthd is started only when the request finds none.
 */
async function runDeployment(io: Io, route: string, body: Record<string, unknown>): Promise<DeployResult> {
  const live = !io.json() && process.stdout.isTTY === true;
  if (!live) return io.call<DeployResult>('POST', route, body);
  const seen = new Map<string, string>();
  let buffer = '';
  let result: DeployResult | undefined;
  for await (const chunk of startedStream(io, route, { ...body, stream: true })) {
    buffer += chunk;
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const line of lines.filter(Boolean)) {
      const msg = JSON.parse(line) as {
        steps?: StepResult[];
        result?: DeployResult;
        error?: { code: string; message: string; hint?: string };
      };
      if (msg.error) throw new ApiError(0, msg.error.code, msg.error.message, msg.error.hint);
      if (msg.result) result = msg.result;
      for (const s of msg.steps ?? []) {
        const shown = `${s.status}:${s.detail ?? ''}`;
        if (seen.get(s.name) === shown || s.status === 'pending') continue;
        seen.set(s.name, shown);
        process.stdout.write(
          `  ${MARK[s.status] ?? s.status} ${s.name}${s.ms !== null && s.status !== 'running' ? `  (${s.ms} ms)` : ''}${s.detail ? `: ${s.detail}` : ''}\n`,
        );
      }
    }
  }
  if (!result) throw new ApiError(0, 'no_result', 'berthd ended the deployment without a result');
  return result;
}

/** A streamed request; when berthd does not run here (nothing was sent), starts it and sends again. */
async function* startedStream(io: Io, route: string, body: unknown): AsyncGenerator<string> {
  let answered = false;
  try {
    for await (const chunk of io.client.stream(route, 'POST', body)) {
      answered = true;
      yield chunk;
    }
  } catch (err) {
    if (answered || io.client.remote || !(err instanceof ApiError && err.code === 'unreachable')) throw err;
    await io.ready();
    yield* io.client.stream(route, 'POST', body);
  }
}

/** What `berth deploy` and `berth up` take, as commander parses them. */
interface DeployOptions {
  env?: string;
  ref?: string;
  branch?: string;
  app?: string;
  org?: string;
  wait?: boolean;
  force?: boolean;
}

export function registerDeployCommands(program: Command, io: Io): void {
  const deploy = async (dir: string, opts: DeployOptions & { noCache?: boolean }) => {
    // Talking to a remote berthd: a directory here is not on its host, so the tree travels with the request.
    if (io.client.remote && opts.app === undefined) {
      if (opts.branch !== undefined || opts.ref !== undefined)
        throw new ApiError(
          0,
          'remote_git',
          '--branch and --ref read a git repository on the host; remotely, push the branch (webhook) or deploy the working tree',
          'drop --branch/--ref, or run berth on the host',
        );
      const files = await collectUpload(path.resolve(dir));
      return runDeployment(io, '/v1/uploads/deployments', {
        files,
        ...(opts.org !== undefined ? { org: opts.org } : {}),
        ...(opts.env !== undefined ? { env: opts.env } : {}),
        ...(opts.wait ? { wait: true } : {}),
        ...(opts.force ? { force: true } : {}),
        ...(opts.noCache ? { noCache: true } : {}),
      });
    }
    return runDeployment(io, '/v1/deployments', {
      ...(opts.app !== undefined ? { app: opts.app } : { dir: path.resolve(dir) }),
      ...(opts.org !== undefined ? { org: opts.org } : {}),
      ...(opts.env !== undefined ? { env: opts.env } : {}),
      ...(opts.ref !== undefined ? { ref: opts.ref } : {}),
      ...(opts.branch !== undefined ? { branch: opts.branch } : {}),
      ...(opts.wait ? { wait: true } : {}),
      ...(opts.force ? { force: true } : {}),
      ...(opts.noCache ? { noCache: true } : {}),
    });
  };
  program
    .command('up')
    .description(
      "deploy the working tree of DIR (default: .): to production, or with `environments:` to the checked-out branch's environment; the same path as `berth deploy`",
    )
    .argument('[dir]', 'directory with a berth.yaml', '.')
    .option('--wait', 'queue behind a running deployment instead of failing')
    .option('--force', 'deploy although pre-flight checks (berth doctor) found errors')
    .option('--json', 'print the deployment result as JSON')
    .action(async (dir: string, opts: { wait?: boolean; force?: boolean }) => finish(io, await deploy(dir, opts)));
  program
    .command('deploy')
    .description(
      'snapshot, build and start a new release, switch traffic when it is healthy; on any failure nothing changes',
    )
    .argument('[dir]', 'directory with a berth.yaml', '.')
    .option(
      '--env <name>',
      'environment (default: production; with `environments:` in berth.yaml the branch decides, and --env may only confirm it)',
    )
    .option(
      '--branch <branch>',
      'deploy the tip of this branch (from the git repository of DIR) into the environment that accepts it, created on first use',
    )
    .option('--ref <ref>', 'deploy this git tag or commit instead of the working tree (apps without `environments:`)')
    .option(
      '--app <name>',
      'redeploy a registered app from the source it was registered with (how remote users deploy)',
    )
    .option('--org <org>', 'the organisation a new app goes into (default: "default")')
    .option('--wait', 'queue behind a running deployment instead of failing')
    .option('--force', 'deploy although pre-flight checks (berth doctor) found errors')
    .option(
      '--no-cache',
      'build everything afresh: reuse no earlier build output, build images with every step (also when nothing changed)',
    )
    .option('--json', 'print the deployment result as JSON')
    .action(async (dir: string, opts: DeployOptions & { cache?: boolean }) =>
      finish(io, await deploy(dir, { ...opts, noCache: opts.cache === false })),
    );
  program
    .command('rollback')
    .description('make an earlier release current again (code, env and routes), through the same transactional path')
    .argument('<app>')
    .argument('[release]', 'release number (default: the one before the current)')
    .option('--env <name>', 'environment', 'production')
    .option('--wait', 'queue behind a running deployment instead of failing')
    .option('--json', 'print the deployment result as JSON')
    .action(async (app: string, release: string | undefined, opts: { env: string; wait?: boolean }) => {
      const n = release === undefined ? undefined : Number(release);
      if (n !== undefined && (!Number.isInteger(n) || n < 1))
        throw new ApiError(400, 'invalid', `release must be a number like 3, got "${release}"`);
      await finish(
        io,
        await runDeployment(io, `/v1/apps/${encodeURIComponent(app)}/rollback`, {
          env: opts.env,
          ...(n ? { release: n } : {}),
          ...(opts.wait ? { wait: true } : {}),
        }),
      );
    });
  program
    .command('releases')
    .description('the kept releases of an app and its recent deployments with their steps')
    .argument('<app>')
    .option('--env <name>', 'environment', 'production')
    .option('--json', 'print JSON')
    .action(async (app: string, opts: { env: string }) => {
      await io.ready();
      const r = await io.client.call<{
        releases: Array<{
          number: number;
          current: boolean;
          createdAt: number;
          source: { dir?: string; ref?: string; branch?: string };
        }>;
        attempts: Array<{ number: number; status: string; error: string | null; startedAt: number }>;
        deployments: Array<{
          id: number;
          kind: string;
          status: string;
          release: number;
          startedAt: number;
          error: string | null;
          steps: StepResult[];
        }>;
      }>('GET', `/v1/apps/${encodeURIComponent(app)}/releases?env=${encodeURIComponent(opts.env)}`);
      io.print(r, () =>
        [
          table(
            ['RELEASE', 'CURRENT', 'CREATED', 'SOURCE'],
            [
              ...r.releases.map((x) => ({
                n: x.number,
                row: [
                  String(x.number),
                  x.current ? 'yes' : '',
                  new Date(x.createdAt).toISOString(),
                  // A remote berthd keeps its host's paths to itself.
                  [x.source.dir ?? (x.source.branch ? `branch ${x.source.branch}` : '-'), x.source.ref]
                    .filter(Boolean)
                    .join(' @ '),
                ],
              })),
              // Attempts that made no release keep their number and logs: berth logs <app> --build --release <n>.
              ...r.attempts.map((a) => ({
                n: a.number,
                row: [
                  String(a.number),
                  a.status,
                  new Date(a.startedAt).toISOString(),
                  (a.error ?? '').split('\n')[0] ?? '',
                ],
              })),
            ]
              .sort((a, b) => b.n - a.n)
              .map((x) => x.row),
          ),
          '',
          table(
            ['DEPLOYMENT', 'KIND', 'RELEASE', 'STATUS', 'STARTED', 'STEPS'],
            r.deployments.map((d) => [
              `#${d.id}`,
              d.kind,
              String(d.release),
              d.status,
              new Date(d.startedAt).toISOString(),
              d.steps.map((s) => `${s.name}: ${s.status}`).join('; '),
            ]),
          ),
        ].join('\n'),
      );
    });
}
