import { MANIFEST_FILE, MANIFEST_MAX_BYTES } from '../config/manifest-basics.js';
import type { Manifest } from '../config/manifest-types.js';
import { BerthError } from '../core/errors.js';
import { decodeTree, isBase64, type DecodedTree, type UploadFile } from './upload-tree.js';

const name = { type: 'string', minLength: 1, maxLength: 63 } as const;
const pathText = { type: 'string', minLength: 1, maxLength: 4096 } as const;

/** The body of POST /v1/uploads/deployments, as documented (OpenAPI); `readUploadBody` holds it to this. */
export const UPLOAD_BODY_SCHEMA = {
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
        properties: { path: pathText, data: { type: 'string' }, link: pathText, executable: { type: 'boolean' } },
      },
    },
    org: name,
    env: name,
    wait: { type: 'boolean' },
    force: { type: 'boolean' },
    noCache: { type: 'boolean' },
    stream: { type: 'boolean' },
  },
} as const;

/** What the upload route needs of a body: its options, the manifest's few facts, the decoded tree (or why it is refused). */
export interface UploadRead {
  readonly app: string;
  /** The manifest declares environments by branch: those deploy from git, never from an upload. */
  readonly byBranch: boolean;
  readonly org?: string;
  readonly env?: string;
  readonly wait?: boolean;
  readonly force?: boolean;
  readonly noCache?: boolean;
  readonly stream?: boolean;
  /** The tree, or why it is refused: told only once the caller is known to be allowed to deploy the app. */
  readonly tree: DecodedTree | BerthError;
}

interface UploadBody {
  readonly files: readonly UploadFile[];
  readonly org?: string;
  readonly env?: string;
  readonly wait?: boolean;
  readonly force?: boolean;
  readonly noCache?: boolean;
  readonly stream?: boolean;
}

/**
 * Reads a whole upload body: JSON, held to UPLOAD_BODY_SCHEMA, its berth.yaml bounded and
 * parsed, every file checked and decoded. All of it is CPU work on up to ~90 MB, so berthd
 * runs it in its manifest thread (ManifestThread.readUpload), never on its event loop.
 */
export function readUploadBody(bytes: Uint8Array, parse: (text: string, file: string) => Manifest): UploadRead {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (err) {
    throw new BerthError('invalid', 'invalid_request', `the body is not JSON: ${(err as Error).message}`);
  }
  const body = checkBody(value);
  const manifestFile = body.files.find((f) => f.path === MANIFEST_FILE);
  if (manifestFile?.data === undefined)
    throw new BerthError(
      'invalid',
      'manifest_missing',
      `the upload has no ${MANIFEST_FILE} at its top (a plain file, not a link)`,
    );
  // Bounded before it is decoded.
  if (manifestFile.data.length > (Math.ceil(MANIFEST_MAX_BYTES / 3) + 1) * 4)
    throw new BerthError(
      'invalid',
      'manifest_too_large',
      `the upload's ${MANIFEST_FILE} is over the ${MANIFEST_MAX_BYTES / 1024 / 1024} MiB a berth.yaml may have`,
      { hint: 'a berth.yaml describes services; keep data and generated lists out of it' },
    );
  if (!isBase64(manifestFile.data))
    throw new BerthError('invalid', 'bad_upload_data', `upload entry ${MANIFEST_FILE}: data is not base64`);
  const manifest = parse(Buffer.from(manifestFile.data, 'base64').toString('utf8'), `${MANIFEST_FILE} (upload)`);
  let tree: DecodedTree | BerthError;
  try {
    tree = decodeTree(body.files);
  } catch (err) {
    if (!(err instanceof BerthError)) throw err;
    tree = err;
  }
  const { org, env, wait, force, noCache, stream } = body;
  return {
    app: manifest.app,
    byBranch: manifest.environments.length > 0,
    org,
    env,
    wait,
    force,
    noCache,
    stream,
    tree,
  };
}

/** The body held to UPLOAD_BODY_SCHEMA, with the messages every other route gives (Fastify's, from Ajv). */
function checkBody(value: unknown): UploadBody {
  const fail = (at: string, what: string) => new BerthError('invalid', 'invalid_request', `body${at} ${what}`);
  const object = (v: unknown, at: string, props: Record<string, unknown>, required: string[]) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw fail(at, 'must be object');
    for (const key of required) if (!(key in v)) throw fail(at, `must have required property '${key}'`);
    if (Object.keys(v).some((k) => !Object.hasOwn(props, k))) throw fail(at, 'must NOT have additional properties');
    return v as Record<string, unknown>;
  };
  const check = (v: unknown, at: string, schema: { type: string; minLength?: number; maxLength?: number }) => {
    if (v === undefined) return;
    if (typeof v !== schema.type) throw fail(at, `must be ${schema.type}`);
    const length = typeof v === 'string' ? v.length : 0;
    if (schema.minLength !== undefined && length < schema.minLength)
      throw fail(at, `must NOT have fewer than ${schema.minLength} characters`);
    if (schema.maxLength !== undefined && length > schema.maxLength)
      throw fail(at, `must NOT have more than ${schema.maxLength} characters`);
  };
  const top = UPLOAD_BODY_SCHEMA.properties;
  const body = object(value, '', top, ['files']);
  for (const key of ['org', 'env', 'wait', 'force', 'noCache', 'stream'] as const)
    check(body[key], `/${key}`, top[key]);
  const files = body.files;
  if (!Array.isArray(files)) throw fail('/files', 'must be array');
  if (files.length < top.files.minItems) throw fail('/files', `must NOT have fewer than ${top.files.minItems} items`);
  if (files.length > top.files.maxItems) throw fail('/files', `must NOT have more than ${top.files.maxItems} items`);
  const item = top.files.items.properties;
  files.forEach((f, i) => {
    const file = object(f, `/files/${i}`, item, ['path']);
    for (const key of ['path', 'data', 'link', 'executable'] as const)
      check(file[key], `/files/${i}/${key}`, item[key]);
  });
  return body as unknown as UploadBody;
}
