// ForgeTrace's API, in miniature: /health and a list of scans.
import { createServer } from 'node:http';

const scans = [{ id: 1, repo: 'example/app', findings: 3 }];
createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  if (req.url === '/health') return res.end('{"status":"ok"}');
  if (req.url === '/api/v1/scans') return res.end(JSON.stringify({ scans }));
  res.statusCode = 404;
  res.end(JSON.stringify({ error: 'not found', path: req.url }));
}).listen(Number(process.env.PORT), '127.0.0.1', () => console.log(`forgetrace api on ${process.env.PORT}`));
