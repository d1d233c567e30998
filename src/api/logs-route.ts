import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { BerthError } from '../core/errors.js';
import { closest } from '../core/did-you-mean.js';
import { assertName } from '../core/names.js';
import { DEFAULT_ENV } from '../engine/apps.js';
import { policy } from './policy.js';
import { fileSize, readFrom, tailLines } from '../runtime/log-files.js';
import type { ApiDeps } from './deps.js';
import type { TaskLine } from '../engine/swarm-tasks.js';
import type { SwarmLogStream } from '../runtime/swarm-logs.js';

interface LogsQuery {
  service?: string;
  env?: string;
  /** The build log (of `release`, default the newest) instead of the instances'. */
  build?: boolean;
  /** The logs of this release's attempt, kept also when it failed (its instances are gone). */
  release?: number;
  /** The log of this `cron:` job (in `env`). */
  cron?: string;
  lines?: number;
  follow?: boolean;
  json?: boolean;
}

/** One log line in JSON form. */
export interface LogLine {
  readonly service: string;
  /** The instance's number; a Swarm task's slot. */
  readonly instance: number;
  readonly line: string;
  /** A Swarm task's id and its node's name (host setting `scheduler: swarm`). */
  readonly task?: string;
  readonly node?: string;
}

interface LogFile {
  readonly label: string;
  readonly service: string;
  readonly instance: number;
  readonly file: string;
}

async function instanceLogs(deps: ApiDeps, app: string, service: string | undefined): Promise<LogFile[]> {
  await deps.apps.requireApp(app);
  return (await deps.store.instances.list({ app, service })).map((v) => ({
    label: `${v.service}[${v.idx}]`,
    service: v.service,
    instance: v.idx,
    file: deps.instances.logFile(v),
  }));
}

/**
 * The logs of one deploy attempt, by its release number (never reused, so they are its own),
 * found by name in the environment's log dir: kept after a failed attempt, also after a
 * failed first deploy took the app's row with it (which only root on the host can ask for).
 */
async function attemptLogs(deps: ApiDeps, app: string, q: LogsQuery): Promise<LogFile[]> {
  const env = q.env ?? DEFAULT_ENV;
  let names: string[] = [];
  try {
    names = readdirSync(deps.layout.logDir(app, env));
  } catch {
    // none
  }
  if (!(await deps.store.apps.find(app)) && names.length === 0) await deps.apps.requireApp(app);
  const at = (name: string) => path.join(deps.layout.logDir(app, env), name);
  if (q.build) {
    const numbers = names.map((n) => /^build-(\d+)\.log$/.exec(n)?.[1]).filter((n) => n !== undefined);
    const number = q.release ?? Math.max(0, ...numbers.map(Number));
    if (!names.includes(`build-${number}.log`))
      throw new BerthError(
        'not_found',
        'log_not_found',
        `${app} (${env}) has no build log${q.release ? ` of release ${q.release}` : ''}`,
        {
          hint: 'a release without build steps logs no build; `berth releases <app>` lists the attempts',
        },
      );
    return [{ label: 'build', service: 'build', instance: 0, file: at(`build-${number}.log`) }];
  }
  const files = names
    .map((n) => ({ n, m: new RegExp(`^([a-z0-9-]+)\\.(\\d+)\\.r${q.release}\\.log$`).exec(n) }))
    .filter((x) => x.m && (q.service === undefined || x.m[1] === q.service))
    .map(({ n, m }) => ({
      label: `${m?.[1]}[${m?.[2]}]`,
      service: m?.[1] as string,
      instance: Number(m?.[2]),
      file: at(n),
    }));
  if (files.length === 0)
    throw new BerthError('not_found', 'log_not_found', `${app} (${env}) has no instance logs of release ${q.release}`, {
      hint: 'see `berth releases <app>`; add --build for its build log',
    });
  return files;
}

/** A `cron:` job's log: every run of it in the environment, one after the other. */
async function cronLog(deps: ApiDeps, app: string, env: string, job: string): Promise<LogFile[]> {
  await deps.apps.requireApp(app);
  assertName('cron job', job);
  const file = deps.cron.logFile(app, env, job);
  if (!existsSync(file)) {
    const row = (await deps.store.apps.environments({ app, env }))[0];
    const jobs = row ? (await deps.cron.jobs(row)).map((j) => j.name) : [];
    const guess = closest(job, jobs);
    throw new BerthError(
      'not_found',
      'log_not_found',
      jobs.includes(job)
        ? `cron job ${job} of ${app} (${env}) has not run yet`
        : `${app} (${env}) has no cron job ${job}`,
      {
        hint: guess && guess !== job ? `did you mean "${guess}"?` : `see berth cron ls ${app}`,
      },
    );
  }
  return [{ label: `cron ${job}`, service: `cron:${job}`, instance: 0, file }];
}

/** The output of the app's Swarm tasks (none without `scheduler: swarm`, nor for a build, attempt or cron log). */
async function taskLogs(
  deps: ApiDeps,
  app: string,
  q: LogsQuery,
  onLine: (l: TaskLine) => void,
): Promise<SwarmLogStream | undefined> {
  if (!deps.apps.swarm || q.cron !== undefined || q.build || q.release !== undefined) return undefined;
  const o = { tail: q.lines ?? 100, follow: q.follow === true };
  return deps.apps.swarm.logs({ app, service: q.service }, o, onLine);
}

/**
 * GET /v1/apps/:app/logs: the last lines of each instance's log, prefixed with
 * `service[idx] | ` when there is more than one, then those of each Swarm task, prefixed with
 * `service[slot]@node | `; with follow=true the response stays open and streams new lines
 * until the client goes away.
 */
export function registerLogRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get<{ Params: { app: string }; Querystring: LogsQuery }>(
    '/v1/apps/:app/logs',
    {
      ...policy({ role: 'viewer' }, 'app'),
      schema: {
        querystring: {
          type: 'object',
          properties: {
            service: { type: 'string' },
            env: { type: 'string', maxLength: 63 },
            build: { type: 'boolean' },
            release: { type: 'integer', minimum: 1 },
            cron: { type: 'string', minLength: 1, maxLength: 63 },
            lines: { type: 'integer', minimum: 0, maximum: 100000 },
            follow: { type: 'boolean' },
            json: { type: 'boolean' },
          },
        },
      },
    },
    async (req, reply) => {
      const files =
        req.query.cron !== undefined
          ? await cronLog(deps, req.params.app, req.query.env ?? DEFAULT_ENV, req.query.cron)
          : req.query.build || req.query.release !== undefined
            ? await attemptLogs(deps, req.params.app, req.query)
            : await instanceLogs(deps, req.params.app, req.query.service);
      const prefix = (label: string) => (files.length > 1 ? `${label} | ` : '');
      // Text: `service[idx] | line` (no prefix for a single instance). JSON: one LogLine object per line (NDJSON).
      // An app may print its own secrets; what Berth serves of its log never shows them.
      // The app's own secrets: with every organisation's, an app printing guesses would learn which ones others use.
      const own = deps.secrets.redactorFor([req.params.app]);
      const format = (f: LogFile, raw: string) => {
        const line = own.redact(raw);
        return req.query.json
          ? JSON.stringify({ service: f.service, instance: f.instance, line } satisfies LogLine)
          : prefix(f.label) + line;
      };
      const formatTask = (l: TaskLine) => {
        const line = own.redact(l.line);
        const { service, instance, task, node } = l;
        return req.query.json
          ? JSON.stringify({ service, instance, line, task, node } satisfies LogLine)
          : `${service}[${instance}]@${node} | ${line}`;
      };
      const head = files.flatMap((f) => tailLines(f.file, req.query.lines ?? 100).map((l) => format(f, l)));
      if (!req.query.follow) {
        await (
          await taskLogs(deps, req.params.app, req.query, (l) => head.push(formatTask(l)))
        )?.done;
        const text = head.map((l) => l + '\n').join('');
        return reply.type(req.query.json ? 'application/x-ndjson' : 'text/plain').send(text);
      }
      const res = reply.raw;
      // Lines of tasks come as they are written, after the instances' last lines.
      const held: string[] = [];
      const tasks = await taskLogs(deps, req.params.app, req.query, (l) =>
        res.headersSent ? res.write(formatTask(l) + '\n') : held.push(formatTask(l)),
      );
      reply.hijack();
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache' });
      res.write([...head, ...held].map((l) => l + '\n').join(''));
      const offsets = new Map(files.map((f) => [f.file, fileSize(f.file)]));
      const pending = new Map<string, string>();
      const timer = setInterval(() => {
        for (const f of files) {
          const { text, offset } = readFrom(f.file, offsets.get(f.file) ?? 0);
          offsets.set(f.file, offset);
          if (!text) continue;
          const lines = ((pending.get(f.file) ?? '') + text).split('\n');
          pending.set(f.file, lines.pop() ?? '');
          if (lines.length > 0) res.write(lines.map((l) => format(f, l)).join('\n') + '\n');
        }
      }, 200);
      req.raw.on('close', () => {
        clearInterval(timer);
        tasks?.stop();
      });
      if (req.raw.destroyed) tasks?.stop(); // gone while the tasks' logs were asked for
    },
  );
}
