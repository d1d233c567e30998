import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import type { UploadFile } from '../api/upload-tree.js';
import { sourceFiles } from '../system/work-tree.js';

/** The source tree to send to a remote berthd: what git would track in a work tree, else everything but .git. */
export async function collectUpload(dir: string): Promise<UploadFile[]> {
  const rels = (await sourceFiles(dir)) ?? walk(dir, '');
  const out: UploadFile[] = [];
  for (const rel of rels) {
    const full = path.join(dir, rel);
    let st;
    try {
      st = lstatSync(full);
    } catch {
      continue; // deleted in the working tree but still in git's index
    }
    if (st.isSymbolicLink()) out.push({ path: rel, link: readlinkSync(full) });
    else if (st.isFile())
      out.push({
        path: rel,
        data: readFileSync(full).toString('base64'),
        ...(st.mode & 0o111 ? { executable: true } : {}),
      });
  }
  return out;
}

function walk(root: string, rel: string): string[] {
  return readdirSync(path.join(root, rel), { withFileTypes: true }).flatMap((e) => {
    if (e.name === '.git') return [];
    const r = rel ? `${rel}/${e.name}` : e.name;
    return e.isDirectory() ? walk(root, r) : [r];
  });
}
