import { createReadStream, realpathSync, statSync, type Stats } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
  '.xml': 'application/xml',
  '.pdf': 'application/pdf',
};

export function contentType(file: string): string {
  return TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * Resolves a URL path to a file inside `root`, or undefined. The path is decoded exactly
 * once (so "%252e%252e" stays a literal name), may not contain NUL or backslashes, and the
 * real path (symlinks followed) must stay inside the real root.
 */
export function resolveStatic(root: string, urlPath: string): { file: string; stat: Stats } | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const realRoot = realpathSync.native(root);
  const joined = path.resolve(realRoot, '.' + path.posix.normalize('/' + decoded));
  if (joined !== realRoot && !joined.startsWith(realRoot + path.sep)) return undefined;
  for (const candidate of [joined, path.join(joined, 'index.html')]) {
    try {
      const real = realpathSync.native(candidate);
      if (real !== realRoot && !real.startsWith(realRoot + path.sep)) return undefined;
      const stat = statSync(real);
      if (stat.isFile()) return { file: real, stat };
    } catch {
      // try the next candidate
    }
  }
  return undefined;
}

/**
 * A path whose last segment has an extension (`/assets/x.js`) asks for a file: when it is
 * missing, an SPA answers 404 rather than its index.html (a script that is HTML breaks quietly).
 */
export function wantsFile(pathname: string): boolean {
  return /\.[^/.]+$/.test(pathname.slice(pathname.lastIndexOf('/') + 1));
}

/** Serves GET/HEAD from a directory: content types, index.html, SPA fallback (not for a missing file with an extension), ETag / If-None-Match. */
export function serveStatic(
  root: string,
  spa: boolean,
  pathname: string,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('405 Method Not Allowed\n');
    return;
  }
  let found: ReturnType<typeof resolveStatic>;
  try {
    found =
      resolveStatic(root, pathname) ?? (spa && !wantsFile(pathname) ? resolveStatic(root, '/index.html') : undefined);
  } catch {
    found = undefined;
  }
  if (!found) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('404 Not Found\n');
    return;
  }
  const etag = `W/"${found.stat.size.toString(16)}-${Math.floor(found.stat.mtimeMs).toString(16)}"`;
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, { etag }).end();
    return;
  }
  res.writeHead(200, {
    'content-type': contentType(found.file),
    'content-length': found.stat.size,
    etag,
    'last-modified': found.stat.mtime.toUTCString(),
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  createReadStream(found.file)
    .on('error', () => res.destroy())
    .pipe(res);
}
