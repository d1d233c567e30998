import { randomBytes } from 'node:crypto';
import { existsSync, renameSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BerthError } from '../core/errors.js';
import { decide, isRole, type Principal } from '../core/roles.js';
import { KeyedLock } from '../engine/keyed-lock.js';
import type { Store } from '../store/store.js';
import { neverDeployed } from '../store/apps-repo.js';
import { authorizeIn, policy } from './policy.js';
import { respond } from './deploy-routes.js';
import { callerRedaction, type ApiDeps } from './deps.js';
import { removeTree } from '../system/safe-tree.js';
import { UPLOAD_BODY_SCHEMA, type UploadRead } from './upload-body.js';
import { MAX_UPLOAD_BYTES, writeTree } from './upload-tree.js';

/**
 * `berth deploy` from another machine: the CLI sends the source tree (what git would track),
 * berthd writes it under BERTH_HOME/uploads/<app> and deploys it through the same journaled
 * path. Paths are checked one by one (relative, inside the tree, symlinks only to inside it).
 * An app registered from a directory on the host keeps deploying from there. The body (up to
 * ~90 MB of JSON) is read off the event loop: parsed, checked, its manifest parsed and its
 * files decoded in the manifest thread, which hands back only what the route needs.
 */
export function registerUploadRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const lock = new KeyedLock<string>();
  const root = path.join(deps.layout.root, 'uploads');
  const bodyLimit = Math.ceil(MAX_UPLOAD_BYTES * 1.4);
  // A plugin of its own, so that this parser serves this route only: the raw bytes go to the thread.
  void app.register(async (scoped) => {
    scoped.removeContentTypeParser('application/json');
    scoped.addContentTypeParser(
      'application/json',
      { parseAs: 'buffer', bodyLimit },
      async (_req: FastifyRequest, body: Buffer) => deps.manifests.readUpload(body),
    );
    scoped.post<{ Body: UploadRead }>(
      '/v1/uploads/deployments',
      {
        ...policy('authenticated'),
        // What is cheap first: someone who may deploy nowhere is refused before the body is even read.
        onRequest: async (req) => mayDeploySomewhere(deps.store, req.principal),
        bodyLimit,
        // Documents the body; readUploadBody holds the body to it, in the thread (the parser above).
        schema: { body: UPLOAD_BODY_SCHEMA },
        validatorCompiler: () => () => true,
      },
      async (req, reply: FastifyReply) => {
        // Who may deploy it is decided from the manifest in the request, before anything touches the disk.
        const upload = req.body;
        if (upload.byBranch)
          throw new BerthError(
            'invalid',
            'branches_by_git',
            `${upload.app} declares environments by branch: its branches deploy from git (a push webhook), not from an upload`,
            { hint: 'push the branch; or deploy on the host: berth deploy --branch <name>' },
          );
        const org = await authorize(deps, req.principal, upload.app, upload.org);
        req.scopeOrg = org;
        if (upload.tree instanceof BerthError) throw upload.tree;
        const stage = path.join(root, '.staging', randomBytes(12).toString('hex'));
        try {
          writeTree(stage, upload.tree);
          return await lock.run(upload.app, async () => {
            const target = path.join(root, upload.app);
            const old = `${target}.old-${process.pid}-${Date.now()}`;
            if (existsSync(target)) renameSync(target, old);
            renameSync(stage, target);
            removeTree(old);
            return respond(
              reply,
              upload.stream,
              (onStep) =>
                deps.deployer.deploy({
                  dir: target,
                  expectApp: upload.app,
                  org: org.name,
                  adoptKeptData: req.principal.kind === 'local',
                  env: upload.env,
                  wait: upload.wait,
                  force: upload.force,
                  noCache: upload.noCache,
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
  });
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
  if (
    existing &&
    !neverDeployed(existing) &&
    path.dirname(existing.sourceDir) !== path.join(deps.layout.root, 'uploads')
  ) {
    throw new BerthError(
      'forbidden',
      'host_source',
      `${appName} deploys from ${existing.sourceDir} on the host; an upload does not replace it`,
      { hint: `redeploy it from there: berth deploy --app ${appName}` },
    );
  }
  return { id: orgRow.id, name: orgRow.name };
}
