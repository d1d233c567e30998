import type { Directive } from './nginx-conf.js';

export interface ParsedCaddyfile {
  /** Site blocks: their addresses, the line they start on, their directives (snippets not yet imported). */
  readonly sites: readonly { addresses: string[]; line: number; body: readonly Directive[] }[];
  /** Snippets `(name) { ... }`, by name. */
  readonly snippets: ReadonlyMap<string, readonly Directive[]>;
  /** The global options block, if any (nothing in it maps to a route). */
  readonly global: Directive | null;
  readonly problems: readonly { line: number; why: string }[];
}

type Token = { text: string; line: number; quoted: boolean } | { text: '\n'; line: number; quoted: false };

/**
 * Parses the Caddyfile syntax (Caddy 2): a directive per line (a newline ends it), a line ending
 * in `{` opens a block closed by a `}` of its own, `#` starts a comment, "quoted" and `backticked`
 * tokens, `\` before a newline continues the line. A `{placeholder}` is a token like any other.
 * At the top: a global options block `{ ... }`, snippets `(name) { ... }`, and site blocks
 * `address[, address...] { ... }` (or one site without braces). Every directive keeps its line,
 * so what cannot be mapped is named by file:line.
 */
export function parseCaddyfile(text: string): ParsedCaddyfile {
  const tokens = tokenize(text);
  const problems: { line: number; why: string }[] = [];
  let i = 0;
  const block = (depth: number, opened: number): Directive[] => {
    const out: Directive[] = [];
    let words: Token[] = [];
    while (i < tokens.length) {
      const t = tokens[i++] as Token;
      if (t.text === '\n') {
        if (words.length > 0) out.push(directive(words, null));
        words = [];
      } else if (t.text === '{' && !t.quoted && isLineEnd(tokens, i)) {
        const head = words;
        words = [];
        const children = block(depth + 1, t.line);
        out.push(directive(head.length > 0 ? head : [{ text: '', line: t.line, quoted: false }], children));
      } else if (t.text === '}' && !t.quoted && words.length === 0) {
        if (depth > 0) return out;
        problems.push({ line: t.line, why: 'a "}" without its "{"' });
      } else words.push(t);
    }
    if (words.length > 0) out.push(directive(words, null));
    if (depth > 0) problems.push({ line: opened, why: 'this block is not closed' });
    return out;
  };
  const top = block(0, 1);
  const snippets = new Map<string, readonly Directive[]>();
  const sites: { addresses: string[]; line: number; body: readonly Directive[] }[] = [];
  let global: Directive | null = null;
  const loose: Directive[] = [];
  for (const [n, d] of top.entries()) {
    if (d.name === '' && d.children && n === 0) global = d;
    else if (/^\(.+\)$/.test(d.name) && d.children) snippets.set(d.name.slice(1, -1), d.children);
    else if (d.children) sites.push({ addresses: addresses(d), line: d.line, body: d.children });
    else loose.push(d);
  }
  // One site without braces: its addresses on the first line, its directives after.
  if (sites.length === 0 && loose.length > 0) {
    const [head, ...body] = loose;
    if (head) sites.push({ addresses: addresses(head), line: head.line, body });
  } else for (const d of loose) problems.push({ line: d.line, why: `"${d.name}" outside a site block` });
  return { sites, snippets, global, problems };
}

function addresses(d: Directive): string[] {
  return [d.name, ...d.args].flatMap((a) => a.split(',')).filter((a) => a !== '');
}

function isLineEnd(tokens: readonly Token[], i: number): boolean {
  return i >= tokens.length || (tokens[i] as Token).text === '\n';
}

function directive(words: readonly Token[], children: Directive[] | null): Directive {
  const head = words[0] as Token;
  return { name: head.text, args: words.slice(1).map((w) => w.text), line: head.line, children };
}

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let line = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '\n') {
      out.push({ text: '\n', line, quoted: false });
      line++;
    } else if (c === '\\' && text[i + 1] === '\n') {
      i++;
      line++;
    } else if (c === '#' && (i === 0 || /\s/.test(text[i - 1] as string))) {
      while (i + 1 < text.length && text[i + 1] !== '\n') i++;
    } else if (c === '"' || c === '`') {
      let word = '';
      const start = line;
      for (i++; i < text.length && text[i] !== c; i++) {
        if (c === '"' && text[i] === '\\' && text[i + 1] === '"') i++;
        if (text[i] === '\n') line++;
        word += text[i];
      }
      out.push({ text: word, line: start, quoted: true });
    } else if (!/\s/.test(c)) {
      let word = c;
      while (i + 1 < text.length && !/\s/.test(text[i + 1] as string)) word += text[++i];
      out.push({ text: word, line, quoted: false });
    }
  }
  return out;
}
