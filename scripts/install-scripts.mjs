// Prints the packages of package-lock.json that have an install script, one a line: scripts/setup.sh installs with
// --ignore-scripts and runs the ones it knows itself, so a new one is not skipped unseen.
import { readFileSync } from 'node:fs';

const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
for (const [where, pkg] of Object.entries(lock.packages ?? {}))
  if (pkg.hasInstallScript) console.log(where.slice(where.lastIndexOf('node_modules/') + 'node_modules/'.length));
