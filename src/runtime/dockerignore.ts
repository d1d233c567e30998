import path from 'node:path';

/** One line of a .dockerignore: a pattern (as a regular expression over context-relative paths), or its exception ("!"). */
interface Rule {
  readonly pattern: RegExp;
  readonly exception: boolean;
}

/**
 * The `.dockerignore` rules of a build context, as the Docker CLI applies them before it sends
 * the context: each line a pattern relative to the context (Go's filepath.Match: `*`, `?`,
 * `[...]`; `**` for any number of directories); a path is left out when the last pattern that
 * matches it (or one of its parent directories) is not an exception (`!pattern`). Comments (#)
 * and blank lines are skipped.
 */
export class DockerIgnore {
  readonly #rules: readonly Rule[];

  constructor(text: string) {
    this.#rules = text
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map((line) => {
        const exception = line.startsWith('!');
        const clean = path.posix.normalize((exception ? line.slice(1) : line).trim()).replace(/^\/+|\/+$/g, '');
        return { pattern: globToRegExp(clean), exception };
      });
  }

  /** Whether any rule is an exception: then an excluded directory must still be walked for what it lets back in. */
  get hasExceptions(): boolean {
    return this.#rules.some((r) => r.exception);
  }

  /** Whether `rel` (context-relative, "/"-separated) is left out of the context. */
  excludes(rel: string): boolean {
    const parents = rel.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const rule of this.#rules) if (parents.some((p) => rule.pattern.test(p))) excluded = !rule.exception;
    return excluded;
  }
}

function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*' && glob[i + 1] === '*') {
      // "**/" or a trailing "**": any number of directories.
      re += glob[i + 2] === '/' ? '(?:.*/)?' : '.*';
      i += glob[i + 2] === '/' ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        re += `[${glob
          .slice(i + 1, end)
          .replace(/^!/, '^')
          .replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else if (c === '\\' && i + 1 < glob.length) re += escape(glob[++i] as string);
    else re += escape(c);
  }
  return new RegExp(`^${re}$`);
}

function escape(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}
