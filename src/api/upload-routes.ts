import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, realpathSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { MANIFEST_FILE, parseManifest } from '../config/manifest.js';
import { BerthError } from '../core/errors.js';
import { KeyedLock } from '../engine/keyed-lock.js';
import { resolveUnder } from '../system/paths.js';
import { authorizeIn, policy } from './policy.js';
import { respond } from './deploy-routes.js';
import { callerRedaction } from './server.js';
import type { ApiDeps } from './server.js';
import { removeTree } from '../system/safe-tree.js';

/** One file of an uploaded source tree. */
export interface UploadFile {
  readonly path: string;
  /** base64 contents; absent for a symlink. */
  readonly data?: string;
  /** A relative symlink target that stays inside the tree. */
  readonly link?: string;
  readonly executable?: boolean;
}

const MAX_BYTES = 64 * 1024 * 1024;
const name = { type: 'string', minLength: 1, maxLength: 63 } as const;

/**
 * `berth deploy` from another machine: the CLI sends the source tree (what git would track),
 * berthd writes it under BERTH_HOME/uploads/<app> and deploys it through the same journaled
 * path. Paths are checked one by one (relative, inside the tree, symlinks only to inside it).
 * An app registered from a directory on the host keeps deploying from there.
 */
export function registerUploadRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const lock = new KeyedLock<string>();
  const root = path.join(deps.layout.root, 'uploads');
  app.post<{
    Body: { files: UploadFile[]; org?: string; env?: string; wait?: boolean; force?: boolean; stream?: boolean };
  }>(
    '/v1/uploads/deployments',
    {
      ...policy('authenticated'),
      bodyLimit: Math.ceil(MAX_BYTES * 1.4),
      schema: {
        body: {
          type: 'object',
          required: ['files'],
          additionalProperties: false,
          properties: {
            files: {
              type: 'array',
              minItems: 1,
              maxItems: 20_000,
              items: {
                type: 'object',
                required: ['path'],
                additionalProperties: false,
                properties: {
                  path: { type: 'string', minLength: 1, maxLength: 4096 },
                  data: { type: 'string' },
                  link: { type: 'string', minLength: 1, maxLength: 4096 },
                  executable: { type: 'boolean' },
                },
              },
            },
            org: name,
            env: name,
            wait: { type: 'boolean' },
            force: { type: 'boolean' },
            stream: { type: 'boolean' },
          },
        },
      },
    },
    async (req, reply: FastifyReply) => {
      // Who may deploy it is decided from the manifest in the request, before anything touches the disk.
      const manifestFile = req.body.files.find((f) => f.path === MANIFEST_FILE);
      if (!manifestFile || manifestFile.data === undefined)
        throw new BerthError(
          'invalid',
          'manifest_missing',
          `the upload has no ${MANIFEST_FILE} at its top (a plain file, not a link)`,
        );
      const manifest = parseManifest(
        Buffer.from(manifestFile.data, 'base64').toString('utf8'),
        `${MANIFEST_FILE} (upload)`,
      );
      if (manifest.environments.length > 0)
        throw new BerthError(
          'invalid',
          'branches_by_git',
          `${manifest.app} declares environments by branch: its branches deploy from git (a push webhook), not from an upload`,
          { hint: 'push the branch; or deploy on the host: berth deploy --branch <name>' },
        );
      const org = await authorize(deps, req.principal, manifest.app, req.body.org);
      req.scopeOrg = org;
      const stage = path.join(root, '.staging', randomBytes(12).toString('hex'));
      try {
        writeTree(stage, req.body.files);
        return await lock.run(manifest.app, async () => {
          const target = path.join(root, manifest.app);
          const old = `${target}.old-${process.pid}-${Date.now()}`;
          if (existsSync(target)) renameSync(target, old);
          renameSync(stage, target);
          removeTree(old);
          return respond(
            reply,
            req.body.stream,
            (onStep) =>
              deps.deployer.deploy({
                dir: target,
                expectApp: manifest.app,
                org: org.name,
                adoptKeptData: req.principal.kind === 'local',
                env: req.body.env,
                wait: req.body.wait,
                force: req.body.force,
                onStep,
              }),
            await callerRedaction(deps, req),
          );
        });
      } finally {
        removeTree(stage);
      }
    },
  );
}

/** Who may deploy this upload: members of the app's organisation, for an app that came by upload (or a new one, into `org`). */
async function authorize(
  deps: ApiDeps,
  p: import('../core/roles.js').Principal,
  appName: string,
  orgName: string | undefined,
): Promise<{ id: number; name: string }> {
  const existing = await deps.store.apps.find(appName);
  const orgRow = existing
    ? await deps.store.identity.orgById(existing.orgId)
    : await deps.store.identity.org(orgName ?? 'default');
  await authorizeIn(
    deps.store,
    p,
    orgRow,
    'member',
    existing
      ? `no app named "${appName}"`
      : `no organisation "${orgName ?? 'default'}" of yours (name yours: berth deploy --org <org>)`,
  );
  if (!orgRow) throw new BerthError('not_found', 'org_not_found', `no organisation "${orgName}"`);
  if (existing && path.dirname(existing.sourceDir) !== path.join(deps.layout.root, 'uploads')) {
    throw new BerthError(
      'forbidden',
      'host_source',
      `${appName} deploys from ${existing.sourceDir} on the host; an upload does not replace it`,
      { hint: `redeploy it from there: berth deploy --app ${appName}` },
    );
  }
  return { id: orgRow.id, name: orgRow.name };
}

/**
 * Writes the tree: every path relative and inside, no entry below an uploaded link, files
 * first and links last (so nothing is ever written through a link), then each link's real
 * target checked to stay inside (chains of links included).
 */
function writeTree(stage: string, files: readonly UploadFile[]): void {
  mkdirSync(stage, { recursive: true, mode: 0o700 });
  const links = new Set(files.filter((f) => f.link !== undefined).map((f) => path.normalize(f.path)));
  const seen = new Set<string>();
  let total = 0;
  for (const f of files) {
    const rel = path.normalize(f.path);
    if (
      f.path.includes('\0') ||
      path.isAbsolute(f.path) ||
      rel.split(path.sep).some((s) => s === '..' || s === '.git') ||
      rel === '.' ||
      seen.has(rel)
    ) {
      throw new BerthError(
        'invalid',
        'bad_upload_path',
        `upload path ${JSON.stringify(f.path)} is not a new relative path inside the tree`,
      );
    }
    seen.add(rel);
    const parents = rel
      .split(path.sep)
      .slice(0, -1)
      .map((_, i, all) => all.slice(0, i + 1).join(path.sep));
    if (parents.some((p) => links.has(p)))
      throw new BerthError(
        'invalid',
        'bad_upload_path',
        `upload path ${JSON.stringify(f.path)} lies below a symlink of the upload`,
      );
    if (f.link !== undefined && f.data !== undefined)
      throw new BerthError(
        'invalid',
        'bad_upload_entry',
        `upload entry ${JSON.stringify(f.path)} is both a file and a link`,
      );
    if (f.link !== undefined) {
      // As written, from where the link will be: inside the tree wherever the tree ends up (a dangling link too).
      const lexical = path.resolve(stage, path.dirname(rel), f.link);
      if (
        path.isAbsolute(f.link) ||
        f.link.includes('\0') ||
        (lexical !== stage && !lexical.startsWith(stage + path.sep))
      )
        throw new BerthError('invalid', 'bad_upload_link', `symlink ${f.path} -> ${f.link} leads out of the tree`);
    }
  }
  for (const f of files) {
    if (f.link !== undefined) continue;
    const to = resolveUnder(stage, f.path);
    mkdirSync(path.dirname(to), { recursive: true });
    const data = Buffer.from(f.data ?? '', 'base64');
    total += data.length;
    if (total > MAX_BYTES)
      throw new BerthError('invalid', 'upload_too_large', `the source tree is over ${MAX_BYTES / 1024 / 1024} MiB`, {
        hint: 'leave build output and dependencies out (.gitignore), and build on the server with build:',
      });
    writeFileSync(to, data, { flag: 'wx', mode: f.executable ? 0o755 : 0o644 });
  }
  for (const f of files) {
    if (f.link === undefined) continue;
    const to = resolveUnder(stage, f.path);
    mkdirSync(path.dirname(to), { recursive: true });
    symlinkSync(f.link, to);
  }
  const real = realpathSync.native(stage);
  for (const f of files) {
    if (f.link === undefined) continue;
    let target: string;
    try {
      target = realpathSync.native(resolveUnder(stage, f.path));
    } catch {
      continue; // dangling: points at nothing (yet); it is copied as a link, never followed by Berth
    }
    if (target !== real && !target.startsWith(real + path.sep))
      throw new BerthError('invalid', 'bad_upload_link', `symlink ${f.path} -> ${f.link} leads out of the tree`);
  }
}
