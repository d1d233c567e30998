import { statSync } from 'node:fs';
import path from 'node:path';
import { BerthError } from '../core/errors.js';
import { checkImported } from '../import/import-check.js';
import { writeNewFile } from '../import/write-new.js';
import { AppTree } from './app-tree.js';
import { recognise } from './init-detect.js';
import { guessLines, initManifest, renderInit } from './init-render.js';
import { entryExists } from '../system/paths.js';

/**
 * `berth init [dir] [--print]`: looks at the app in `dir`, writes dir/berth.yaml (never over an
 * existing one) or prints it, and tells on stderr what it guessed and why. Asks nothing.
 */
export function runInit(dir: string, opts: { print?: boolean }): void {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    // named below
  }
  if (!isDir)
    throw new BerthError('invalid', 'init_no_dir', `${dir} is not a directory`, {
      hint: "give the app's source directory: berth init path/to/app",
    });
  const target = path.join(dir, 'berth.yaml');
  if (!opts.print && entryExists(target))
    throw new BerthError('conflict', 'file_exists', `${target} exists already; berth init never replaces it`, {
      hint: 'berth init --print shows what it would write; remove or rename the file to write a new one',
    });
  const found = recognise(new AppTree(dir));
  if (found === null)
    throw new BerthError('invalid', 'init_unknown', `berth init found no app it recognises in ${dir}`, {
      hint: 'it looks for a compose file, a Procfile, a Dockerfile, package.json, requirements.txt or pyproject.toml, or an index.html; write berth.yaml by hand (see examples/)',
    });
  const { plan, app, appWhy } = found;
  const manifest = plan.yaml ? (plan.yaml.manifest as Parameters<typeof checkImported>[0]) : initManifest(app, plan);
  const problems = checkImported(manifest).problems;
  const text = renderInit(
    app,
    { ...plan, notes: [...plan.notes, ...problems.map((p) => `does not pass Berth's validation: ${p}`)] },
    appWhy,
  );
  const lines = guessLines(plan, appWhy);
  process.stderr.write(lines.map((l) => `berth init: ${l}\n`).join(''));
  if (opts.print) {
    process.stdout.write(text);
    return;
  }
  writeNewFile(target, text, false);
  process.stderr.write(`wrote ${target}: review it, then berth up ${dir}\n`);
}
