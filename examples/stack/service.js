// One small service of the stack: answers /health and / with its name and version.
// FAIL_START=1 makes it exit at start (to see a whole stack roll back).
import { createServer } from 'node:http';

const name = process.env.NAME;
if (process.env.FAIL_START === name) {
  console.error(`${name}: cannot start: missing configuration`);
  process.exit(1);
}
createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ service: name, version: process.env.VERSION ?? '1', path: req.url }));
}).listen(Number(process.env.PORT), '127.0.0.1', () => console.log(`${name} on ${process.env.PORT}`));
