// The front end (Next.js in the seed), in miniature.
import { createServer } from 'node:http';

createServer((req, res) => {
  res.setHeader('content-type', 'text/html; charset=utf-8');
  res.end(`<!doctype html><h1>Auto-Author</h1><p>${req.url}</p>\n`);
}).listen(Number(process.env.PORT), '127.0.0.1', () => console.log(`frontend on ${process.env.PORT}`));
