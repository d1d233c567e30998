import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TestDockerd } from './dockerd.js';
import { PG_BIN } from './database-app.js';

/** Debian's postgresql-15: its programs, its modules (plpgsql, snowball...) and its shared files (initdb's catalogs). */
const PG_LIB = '/usr/lib/postgresql/15';
const PG_SHARE = '/usr/share/postgresql/15';

/** The shared libraries `ldd` lists for `files` (the loader included), as absolute paths. */
function libraries(files: readonly string[]): string[] {
  const found = new Set<string>();
  for (const file of files) {
    let out: string;
    try {
      out = execFileSync('ldd', [file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      continue; // not a dynamic executable (a script, a static file)
    }
    for (const m of out.matchAll(/(?:=> )?(\/\S+) \(0x/g)) found.add(m[1] as string);
  }
  return [...found].sort();
}

/**
 * Builds `tag` (e.g. postgres:15) on `dockerd` FROM scratch out of this host's Debian postgresql-15,
 * nothing pulled: /usr/lib/postgresql/15 (bin, lib), /usr/share/postgresql/15, the time zones, the C.UTF-8 locale,
 * the libraries `ldd` lists for its programs and modules, Debian's static busybox as /bin/sh
 * (initdb runs postgres through popen), and a passwd and group with a user postgres (uid 999).
 * What Berth relies on is what the official image has: the programs on PATH
 * (/usr/lib/postgresql/15/bin first) and a user postgres; its entrypoint script is not used. Unlike the
 * official image it has no STOPSIGNAL (SIGTERM: a smart shutdown), so a fast one proves Berth's own stop signal.
 */
export async function buildPostgresImage(dockerd: TestDockerd, tag: string): Promise<void> {
  const ctx = path.join(dockerd.dir, `ctx-${tag.replace(/[^a-z0-9]/gi, '-')}`);
  mkdirSync(path.join(ctx, 'etc'), { recursive: true });
  copyFileSync('/bin/busybox', path.join(ctx, 'busybox'));
  writeFileSync(
    path.join(ctx, 'etc', 'passwd'),
    'root:x:0:0:root:/root:/bin/sh\npostgres:x:999:999:PostgreSQL:/var/lib/postgresql:/bin/sh\n',
  );
  writeFileSync(path.join(ctx, 'etc', 'group'), 'root:x:0:\npostgres:x:999:\n');
  const programs = readdirSync(PG_BIN).map((f) => path.join(PG_BIN, f));
  const modules = readdirSync(path.join(PG_LIB, 'lib'))
    .filter((f) => f.endsWith('.so'))
    .map((f) => path.join(PG_LIB, 'lib', f));
  const host = [
    PG_LIB,
    PG_SHARE,
    '/usr/share/zoneinfo',
    '/usr/lib/locale/C.utf8',
    ...libraries([...programs, ...modules]),
  ].map((f) => f.slice(1));
  const tops = [...new Set(host.map((f) => f.split('/')[0] as string))];
  writeFileSync(
    path.join(ctx, 'Dockerfile'),
    [
      'FROM scratch',
      'COPY busybox /bin/busybox',
      'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
      'COPY etc /etc',
      ...tops.map((d) => `COPY ${d} /${d}`),
      `ENV PATH=${PG_BIN}:/usr/local/bin:/usr/bin:/bin`,
      'USER postgres',
      'CMD ["postgres"]',
      '',
    ].join('\n'),
  );
  // -h: the libraries' links are stored as the files they name.
  await dockerd.buildTar(tag, ['-ch', '-C', ctx, '.', '-C', '/', ...host]);
}
