/** One `KEY=VALUE` of an env file; `literal` when single-quoted (no interpolation). */
export interface DotenvEntry {
  readonly key: string;
  readonly value: string;
  readonly literal: boolean;
  readonly line: number;
}

export interface DotenvRead {
  readonly entries: readonly DotenvEntry[];
  /** Lines that are not `KEY=VALUE`, by line number (their text is not repeated: it may be a secret). */
  readonly bad: readonly number[];
}

const LINE = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/;

/**
 * The env file format compose reads (`env_file:`, `.env`): `KEY=VALUE` per line, `export `
 * allowed before it, blank lines and `#` comments skipped; a value may be 'single-quoted'
 * (literal), "double-quoted" (\n, \t, \\ and \" escapes) or bare (trimmed; " #" starts a comment).
 * A line `KEY` without "=" takes the value from the shell in compose: it is reported in `bad`.
 */
export function parseDotenv(text: string): DotenvRead {
  const entries: DotenvEntry[] = [];
  const bad: number[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    if (/^\s*(#|$)/.test(raw)) return;
    const m = LINE.exec(raw);
    if (!m) {
      bad.push(i + 1);
      return;
    }
    const value = unquote((m[2] as string).trim());
    if (value === undefined) bad.push(i + 1);
    else entries.push({ key: m[1] as string, value: value.text, literal: value.literal, line: i + 1 });
  });
  return { entries, bad };
}

function unquote(v: string): { text: string; literal: boolean } | undefined {
  if (v.startsWith("'")) {
    const end = v.indexOf("'", 1);
    return end < 0 ? undefined : { text: v.slice(1, end), literal: true };
  }
  if (v.startsWith('"')) {
    let text = '';
    for (let j = 1; j < v.length; j++) {
      const c = v[j] as string;
      if (c === '"') return { text, literal: false };
      if (c === '\\' && j + 1 < v.length) {
        const e = v[++j] as string;
        text += e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : e;
      } else text += c;
    }
    return undefined;
  }
  const comment = v.search(/\s#/);
  return { text: (comment < 0 ? v : v.slice(0, comment)).trim(), literal: false };
}
