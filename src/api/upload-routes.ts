import { randomBytes } from 'node:crypto';
import { existsSync, renameSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { MANIFEST_FILE } from '../config/manifest.js';
import { MANIFEST_MAX_BYTES } from '../config/manifest-yaml.js';
import { BerthError } from '../core/errors.js';
import { decide, isRole, type Principal } from '../core/roles.js';
import { KeyedLock } from '../engine/keyed-lock.js';
import type { Store } from '../store/store.js';
import { authorizeIn, policy } from './policy.js';
import { respond } from './deploy-routes.js';
import { callerRedaction, type ApiDeps } from './deps.js';
import { removeTree } from '../system/safe-tree.js';
import { isBase64, MAX_UPLOAD_BYTES, writeTree, type UploadFile } from './upload-tree.js';

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
      // What is cheap first: someone who may deploy nowhere is refused before the body is even read.
      onRequest: async (req) => mayDeploySomewhere(deps.store, req.principal),
      bodyLimit: Math.ceil(MAX_UPLOAD_BYTES * 1.4),
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
      // Bounded before it is decoded, parsed off the event loop (with the host's service limit).
      if (manifestFile.data.length > (Math.ceil(MANIFEST_MAX_BYTES / 3) + 1) * 4)
        throw new BerthError(
          'invalid',
          'manifest_too_large',
          `the upload's ${MANIFEST_FILE} is over the ${MANIFEST_MAX_BYTES / 1024 / 1024} MiB a berth.yaml may have`,
          { hint: 'a berth.yaml describes services; keep data and generated lists out of it' },
        );
      if (!isBase64(manifestFile.data))
        throw new BerthError('invalid', 'bad_upload_data', `upload entry ${MANIFEST_FILE}: data is not base64`);
      const manifest = await deps.manifests.parse(
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

/**
 * Before anything of the request is read: root on the host, or a user with (at least) the
 * member role in some organisation their credential reaches. Anyone else could deploy nowhere.
 */
async function mayDeploySomewhere(store: Store, p: Principal): Promise<void> {
  if (p.kind !== 'user') return; // root on the host; anonymous callers were refused by the policy
  const orgs = await store.identity.orgs(p.userId);
  if (orgs.some((o) => decide(p, { role: 'member' }, o.id, isRole(o.role) ? o.role : undefined).allow)) return;
  throw new BerthError(
    'forbidden',
    'forbidden',
    'deploying needs the member role in an organisation, and this credential has it in none',
    { hint: "ask an organisation's admin for an invite, or sign in with a token of that organisation" },
  );
}

/** Who may deploy this upload: members of the app's organisation, for an app that came by upload (or a new one, into `org`). */
async function authorize(
  deps: ApiDeps,
  p: Principal,
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
