import { createHash } from 'node:crypto';
import type { Manifest } from '../../config/manifest-types.js';
import { runCommand } from '../../system/command.js';
import { sourceFiles } from '../../system/work-tree.js';
import { treeDigest, type SourceSpec } from './source.js';

/**
 * What a deploy would release: for a ref, its commit; for a working tree, its files as the
 * snapshot would copy them. With the manifest, it tells an unchanged `berth up` apart.
 */
export async function sourceDigest(source: SourceSpec, manifest: Manifest): Promise<string> {
  const hash = createHash('sha256').update(JSON.stringify(manifest));
  if (source.ref !== undefined) {
    const r = await runCommand(['git', '-C', source.dir, 'rev-parse', '--verify', '--quiet', `${source.ref}^{commit}`]);
    return hash.update(`ref:${r.stdout.trim()}`).digest('hex');
  }
  return hash.update(treeDigest(source.dir, await sourceFiles(source.dir))).digest('hex');
}
