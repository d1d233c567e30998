#!/usr/bin/env node
// The `berth` command: runs the compiled CLI (build with `npm run build`).
import('../dist/src/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    process.stderr.write('berth is not built yet: run `npm run build` in the repository first\n');
    process.exit(1);
  }
  throw err;
});
