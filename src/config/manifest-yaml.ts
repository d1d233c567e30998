import { Composer, isMap, isScalar, isSeq, LineCounter, Parser, type Document, type Node } from 'yaml';

import { MANIFEST_MAX_BYTES } from './manifest-basics.js';

export { MANIFEST_MAX_BYTES };
/** How deep collections in a berth.yaml may nest. The schema itself needs 6 levels. */
export const MANIFEST_MAX_DEPTH = 32;

export type YamlRead =
  | { readonly ok: true; readonly doc: Document; readonly counter: LineCounter }
  | { readonly ok: false; readonly problems: readonly string[] };

/**
 * Reads YAML text into one document, at a cost linear in its size: the size is capped, the
 * nesting depth is checked on the parser's tokens before anything recursive walks them (so a
 * deep document is an error, never the end of the stack), and keys are checked to be unique
 * with a set per mapping (the yaml package's `uniqueKeys` compares every key with every other).
 */
export function readYaml(text: string, file: string): YamlRead {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MANIFEST_MAX_BYTES)
    return fail(
      `${file}: ${bytes} bytes, over the ${MANIFEST_MAX_BYTES / 1024 / 1024} MiB a berth.yaml may have\n  hint: a berth.yaml describes services; keep data and generated lists out of it`,
    );
  const counter = new LineCounter();
  const tokens = [...new Parser(counter.addNewLine).parse(text)];
  const at = (offset: number) => {
    const pos = counter.linePos(offset);
    return `${file}:${pos.line}:${pos.col}`;
  };
  const deep = tooDeep(tokens);
  if (deep !== undefined)
    return fail(
      `${at(deep)}: YAML nested more than ${MANIFEST_MAX_DEPTH} levels deep\n  hint: a berth.yaml needs a few levels (services.web.health.http.path); check for runaway brackets or indentation`,
    );
  let doc: Document | undefined;
  let extra = false;
  for (const d of new Composer({ uniqueKeys: false }).compose(tokens, true, text.length)) {
    if (doc) extra = true;
    else doc = d;
  }
  if (!doc) return fail(`${file}:1:1: YAML syntax: no document`);
  const errors = doc.errors.map((e) => ({ pos: e.pos[0], message: e.message.split('\n')[0] as string }));
  if (extra) errors.push({ pos: text.length, message: 'a berth.yaml holds one YAML document, this one has several' });
  if (errors.length === 0) errors.push(...duplicateKeys(doc));
  if (errors.length > 0)
    return fail(
      ...errors.map(
        (e) => `${at(e.pos)}: YAML syntax: ${e.message}\n  hint: check indentation and quoting near this line`,
      ),
    );
  return { ok: true, doc, counter };
}

function fail(...problems: string[]): YamlRead {
  return { ok: false, problems };
}

interface CstLike {
  readonly type?: string;
  readonly offset?: number;
  readonly value?: unknown;
  readonly items?: ReadonlyArray<{ readonly key?: unknown; readonly value?: unknown }>;
}

/** The offset of the first collection nested deeper than the limit, walking the tokens without recursion. */
function tooDeep(tokens: readonly unknown[]): number | undefined {
  const stack: Array<[CstLike, number]> = tokens.map((t) => [t as CstLike, 0]);
  while (stack.length > 0) {
    const [token, depth] = stack.pop() as [CstLike, number];
    if (token.type === 'document') {
      if (token.value && typeof token.value === 'object') stack.push([token.value, depth]);
      continue;
    }
    if (!token.items) continue;
    if (depth + 1 > MANIFEST_MAX_DEPTH) return token.offset ?? 0;
    for (const item of token.items)
      for (const part of [item.key, item.value]) if (part && typeof part === 'object') stack.push([part, depth + 1]);
  }
  return undefined;
}

/** Keys repeated in a mapping: the same scalar (by type and value) twice. */
function duplicateKeys(doc: Document): Array<{ pos: number; message: string }> {
  const found: Array<{ pos: number; message: string }> = [];
  const stack: unknown[] = [doc.contents];
  while (stack.length > 0) {
    const node = stack.pop() as Node | null;
    if (isSeq(node)) for (const item of node.items) stack.push(item);
    if (!isMap(node)) continue;
    const seen = new Set<string>();
    for (const pair of node.items) {
      stack.push(pair.value);
      const key = pair.key;
      if (!isScalar(key)) continue;
      const id = `${typeof key.value}:${String(key.value)}`;
      if (seen.has(id)) found.push({ pos: key.range?.[0] ?? 0, message: 'Map keys must be unique' });
      seen.add(id);
    }
  }
  return found.sort((a, b) => a.pos - b.pos);
}
