/** One nginx directive: `name args...;` or `name args... { children }`, with the line it starts on. */
export interface Directive {
  readonly name: string;
  readonly args: readonly string[];
  readonly line: number;
  readonly children: readonly Directive[] | null;
}

export interface ParsedConf {
  readonly directives: readonly Directive[];
  /** Lines of text nginx itself would refuse (an unclosed block, a directive without `;`). */
  readonly problems: readonly { line: number; why: string }[];
}

/**
 * Parses nginx configuration syntax: words (quoted with ' or " or not), `;` ends a directive,
 * `{ ... }` holds a block, `#` starts a comment. Lenient: a directive left without `;` before `}`
 * (as in a write-up's `location / { proxy_pass http://app; ... }`) is kept and named as a problem.
 */
export function parseNginx(text: string): ParsedConf {
  const tokens = tokenize(text);
  const problems: { line: number; why: string }[] = [];
  let i = 0;
  const block = (depth: number): Directive[] => {
    const out: Directive[] = [];
    let words: Word[] = [];
    const flush = (why: string) => {
      if (words.length === 0) return;
      problems.push({ line: (words[0] as Word).line, why });
      out.push(directive(words, null));
      words = [];
    };
    while (i < tokens.length) {
      const t = tokens[i++] as Token;
      if (t.kind === 'word') words.push(t);
      else if (t.kind === ';') {
        if (words.length > 0) out.push(directive(words, null));
        words = [];
      } else if (t.kind === '{') {
        const head = words;
        words = [];
        const children = block(depth + 1);
        if (head.length === 0) problems.push({ line: t.line, why: 'a block without a directive name' });
        else out.push(directive(head, children));
      } else {
        flush(`"${words.map((w) => w.text).join(' ')}" has no ";"`);
        if (depth === 0) problems.push({ line: t.line, why: 'a "}" without its "{"' });
        else return out;
      }
    }
    flush(`"${words.map((w) => w.text).join(' ')}" has no ";"`);
    if (depth > 0) problems.push({ line: tokens.at(-1)?.line ?? 1, why: 'a block is not closed' });
    return out;
  };
  return { directives: block(0), problems };
}

type Word = { readonly text: string; readonly line: number };

/** A directive from its words (name first; at least one). */
function directive(words: readonly Word[], children: Directive[] | null): Directive {
  const head = words[0] as Word;
  return { name: head.text, args: words.slice(1).map((w) => w.text), line: head.line, children };
}

type Token = { kind: 'word'; text: string; line: number } | { kind: ';' | '{' | '}'; line: number };

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let line = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '\n') line++;
    else if (c === '#') {
      while (i + 1 < text.length && text[i + 1] !== '\n') i++;
    } else if (c === ';' || c === '{' || c === '}') out.push({ kind: c, line });
    else if (c === '"' || c === "'") {
      let word = '';
      const start = line;
      for (i++; i < text.length && text[i] !== c; i++) {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        if (text[i] === '\n') line++;
        word += text[i];
      }
      out.push({ kind: 'word', text: word, line: start });
    } else if (!/\s/.test(c)) {
      let word = c;
      while (i + 1 < text.length && !/[\s;{}#]/.test(text[i + 1] as string)) word += text[++i];
      out.push({ kind: 'word', text: word, line });
    }
  }
  return out;
}
