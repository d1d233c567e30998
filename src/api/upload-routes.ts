import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { loadManifest } from '../config/manifest.js';
import { BerthError } from '../core/errors.js';
import { atLeast, isRole, weaker } from '../core/roles.js';
import { KeyedLock } from '../engine/keyed-lock.js';
import { resolveUnder } from '../system/paths.js';
import { policy } from './policy.js';
import { respond } from './deploy-routes.js';
import type { ApiDeps } from './server.js';

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
  app.post<{ Body: { files: UploadFile[]; org?: string; env?: string; wait?: boolean; force?: boolean; stream?: boolean } }>(
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
            files: { type: 'array', minItems: 1, maxItems: 20_000, items: { type: 'object', required: ['path'], additionalProperties: false, properties: { path: { type: 'string', minLength: 1, maxLength: 4096 }, data: { type: 'string' }, link: { type: 'string', minLength: 1, maxLength: 4096 }, executable: { type: 'boolean' } } } },
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
      const stage = path.join(root, '.staging', randomBytes(12).toString('hex'));
      try {
        writeTree(stage, req.body.files);
        const { manifest } = await loadManifest(stage);
        if (manifest.environments.length > 0) throw new BerthError('invalid', 'branches_by_git', `${manifest.app} declares environments by branch: its branches deploy from git (a push webhook), not from an upload`, { hint: 'push the branch; or deploy on the host: berth deploy --branch <name>' });
        const org = await authorize(deps, req.principal, manifest.app, req.body.org);
        req.scopeOrg = org;
        return await lock.run(manifest.app, async () => {
          const target = path.join(root, manifest.app);
          const old = `${target}.old-${process.pid}-${Date.now()}`;
          if (existsSync(target)) renameSync(target, old);
          renameSync(stage, target);
          rmSync(old, { recursive: true, force: true });
          return respond(reply, req.body.stream, (onStep) => deps.deployer.deploy({ dir: target, org: org.name, env: req.body.env, wait: req.body.wait, force: req.body.force, onStep }));
        });
      } finally {
        rmSync(stage, { recursive: true, force: true });
      }
    },
  );
}

/** Who may deploy this upload: members of the app's organisation, for an app that came by upload (or a new one, into `org`). */
async function authorize(deps: ApiDeps, p: import('../core/roles.js').Principal, appName: string, orgName: string | undefined): Promise<{ id: number; name: string }> {
  const existing = await deps.store.apps.find(appName);
  const orgRow = existing ? await deps.store.identity.orgById(existing.orgId) : await deps.store.identity.org(orgName ?? 'default');
  if (existing && orgName !== undefined && orgName !== existing.org) throw new BerthError('conflict', 'app_in_other_org', `app "${appName}" belongs to another organisation`);
  const role = orgRow && p.kind === 'user' && (p.scope.orgId === null || p.scope.orgId === orgRow.id) ? await deps.store.identity.role(orgRow.id, p.userId) : undefined;
  if (p.kind !== 'local') {
    if (!orgRow || !isRole(role)) throw new BerthError('not_found', existing ? 'app_not_found' : 'org_not_found', existing ? `no app named "${appName}"` : `no organisation "${orgName ?? 'default'}"`, { hint: existing ? undefined : 'name yours: berth deploy --org <org>' });
    if (!atLeast(weaker(role, p.kind === 'user' ? p.scope.ceiling : null), 'member')) throw new BerthError('forbidden', 'forbidden', 'deploying needs the member role');
  }
  if (!orgRow) throw new BerthError('not_found', 'org_not_found', `no organisation "${orgName}"`);
  if (existing && path.dirname(existing.sourceDir) !== path.join(deps.layout.root, 'uploads')) {
    throw new BerthError('forbidden', 'host_source', `${appName} deploys from ${existing.sourceDir} on the host; an upload does not replace it`, { hint: `redeploy it from there: berth deploy --app ${appName}` });
  }
  return { id: orgRow.id, name: orgRow.name };
}

function writeTree(stage: string, files: readonly UploadFile[]): void {
  mkdirSync(stage, { recursive: true, mode: 0o700 });
  let total = 0;
  for (const f of files) {
    if (f.path.includes('\0') || path.isAbsolute(f.path) || f.path.split(/[\\/]/).some((s) => s === '..' || s === '.git')) {
      throw new BerthError('invalid', 'bad_upload_path', `upload path ${JSON.stringify(f.path)} is not a relative path inside the tree`);
    }
    const to = resolveUnder(stage, f.path);
    mkdirSync(path.dirname(to), { recursive: true });
    if (f.link !== undefined) {
      const target = path.resolve(path.dirname(to), f.link);
      if (path.isAbsolute(f.link) || (target !== stage && !target.startsWith(stage + path.sep))) throw new BerthError('invalid', 'bad_upload_link', `symlink ${f.path} -> ${f.link} leads out of the tree`);
      symlinkSync(f.link, to);
      continue;
    }
    const data = Buffer.from(f.data ?? '', 'base64');
    total += data.length;
    if (total > MAX_BYTES) throw new BerthError('invalid', 'upload_too_large', `the source tree is over ${MAX_BYTES / 1024 / 1024} MiB`, { hint: 'leave build output and dependencies out (.gitignore), and build on the server with build:' });
    writeFileSync(to, data, { flag: 'wx' });
    chmodSync(to, f.executable ? 0o755 : 0o644);
  }
}
