import type { Document, LineCounter } from 'yaml';
import { isMap, isPair, isScalar, isSeq, type Node } from 'yaml';
import type { z } from 'zod';

export type KeyPath = ReadonlyArray<string | number>;

/** One thing wrong with a manifest, before it is placed in the file and formatted. */
export interface Problem {
  readonly path: KeyPath;
  /** What was expected, without the "got ..." part. */
  readonly message: string;
  readonly hint?: string | undefined;
  /** Point at the key itself rather than its value (unknown keys, bad names). */
  readonly atKey?: boolean;
  /** Append ", got <value at path>". */
  readonly showGot?: boolean;
  /** For an unknown key: the allowed key it probably meant. */
  readonly suggestion?: string | undefined;
  /** A required key that is absent. */
  readonly missing?: boolean;
}

/** The parts of a zod 4 schema node's definition that "did you mean" walks (zod's `_zod.def`). */
interface SchemaNode {
  readonly _zod?: { readonly def?: SchemaDef };
}

interface SchemaDef {
  readonly type: string;
  readonly shape?: Readonly<Record<string, SchemaNode>>;
  readonly valueType?: SchemaNode;
  readonly element?: SchemaNode;
  readonly options?: readonly SchemaNode[];
  readonly innerType?: SchemaNode;
}

/** The allowed keys of the object schema at `path`, for "did you mean". */
export function keysAt(schema: z.ZodType, path: KeyPath): string[] {
  let node: SchemaNode | undefined = schema;
  for (const seg of path) {
    const def: SchemaDef | undefined = unwrap(node)?._zod?.def;
    if (def?.type === 'object') node = def.shape?.[String(seg)];
    else if (def?.type === 'record') node = def.valueType;
    else if (def?.type === 'array') node = def.element;
    else if (def?.type === 'union') node = objectOption(def.options)?._zod?.def?.shape?.[String(seg)];
    else return [];
  }
  const def = unwrap(node)?._zod?.def;
  if (def?.type === 'object') return Object.keys(def.shape ?? {});
  if (def?.type === 'union') return Object.keys(objectOption(def.options)?._zod?.def?.shape ?? {});
  return [];
}

function objectOption(options: readonly SchemaNode[] | undefined): SchemaNode | undefined {
  return options?.map(unwrap).find((o) => o?._zod?.def?.type === 'object');
}

function unwrap(node: SchemaNode | undefined): SchemaNode | undefined {
  while (node?._zod?.def?.type === 'optional' || node?._zod?.def?.type === 'default') node = node._zod.def.innerType;
  return node;
}

/** A short description of a value for "got ...". */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null (an empty value)';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? value.slice(0, 57) + '...' : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return typeof value;
}

/** Line and column (1-based) of the value (or key) at `path`, or of its nearest existing parent. */
export function locate(
  doc: Document,
  counter: LineCounter,
  path: KeyPath,
  atKey: boolean,
): { line: number; col: number } | undefined {
  let node: Node | null | undefined = doc.contents;
  let keyNode: Node | undefined;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      keyNode = pair.key as Node;
      node = pair.value as Node | null;
      if (node === null) {
        node = keyNode;
      }
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (!item) break;
      keyNode = undefined;
      node = item as Node;
    } else break;
  }
  const target = atKey && keyNode ? keyNode : node;
  const offset = target?.range?.[0];
  if (offset === undefined) return undefined;
  return counter.linePos(offset);
}

/** The plain value at a key path of parsed YAML. */
export function valueAt(root: unknown, keyPath: KeyPath): unknown {
  let v: unknown = root;
  for (const seg of keyPath) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[seg] : undefined;
  return v;
}
