// The CMS (Strapi in the seed), in miniature.
import { createServer } from 'node:http';

createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ cms: true, path: req.url }));
}).listen(Number(process.env.PORT), '127.0.0.1', () => console.log(`cms on ${process.env.PORT}`));
