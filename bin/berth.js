#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS BERTH_EXTRA_CA_CERTS=${NODE_EXTRA_CA_CERTS} node
// The `berth` command: runs the CLI as bundled by `npm run build` (dist/bundle/cli.js, scripts/bundle.mjs).
// The CLI only talks to berthd over a unix socket, so the shebang keeps Node from loading
// NODE_EXTRA_CA_CERTS at startup (~50 ms with Debian's bundle); the value is handed on to
// berthd, which restores it. `berth deploy` and `berth up` in their usual forms send their request from a
// small bundle of their own (src/cli/deploy-fast.ts) before the rest of the CLI is read. This file is CommonJS
// (bin/package.json), and so is that bundle: such a run never starts Node's ES module loader (issue 14).
const command = process.argv[2];
const fast = async () =>
  (command === 'deploy' || command === 'up') &&
  require('../dist/bundle/cli-deploy.cjs').fastDeploy(process.argv.slice(2));
fast()
  .then((done) => done || import('../dist/bundle/cli.js'))
  .catch((err) => {
    if (err && (err.code === 'ERR_MODULE_NOT_FOUND' || err.code === 'MODULE_NOT_FOUND')) {
      process.stderr.write('berth is not built yet: run `npm run build` in the repository first\n');
      process.exit(1);
    }
    throw err;
  });
