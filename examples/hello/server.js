// A tiny HTTP server: answers with its name, its port and a visit counter kept in $DATA_DIR.
import { createServer } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const name = process.env.NAME ?? 'hello';
const port = Number(process.env.PORT);
const counter = path.join(process.env.DATA_DIR ?? '.', `${name}.visits`);

function visits() {
  let n = 0;
  try { n = Number(readFileSync(counter, 'utf8')) || 0; } catch {}
  writeFileSync(counter, String(n + 1));
  return n + 1;
}

createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ service: name, port, path: req.url, visits: visits() }) + '\n');
}).listen(port, '127.0.0.1', () => console.log(`${name} listening on 127.0.0.1:${port}`));
process.on('SIGTERM', () => { console.log(`${name} stopping`); process.exit(0); });
