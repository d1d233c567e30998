import { at, isMapping, type Warnings } from './import-warnings.js';

/**
 * Compose's variable interpolation in values: `$$` is a "$"; `${VAR}` and `$VAR` take the
 * variable; `${VAR:-default}` / `${VAR-default}` the default when it is unset (or empty, with
 * ":"); `${VAR:?message}` / `${VAR?message}` require it; `${VAR:+alt}` / `${VAR+alt}` give `alt`
 * when it is set. Defaults may hold further interpolations. An unset variable without a default
 * becomes "" with a warning at the value's key path (compose does the same), so nothing is
 * dropped unseen. Keys are not interpolated (as in compose).
 */
export function interpolateTree(
  value: unknown,
  vars: ReadonlyMap<string, string>,
  path: string,
  warn: Warnings,
): unknown {
  if (typeof value === 'string') return interpolate(value, vars, path, warn);
  if (Array.isArray(value)) return value.map((v, i) => interpolateTree(v, vars, at(path, i), warn));
  if (isMapping(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolateTree(v, vars, at(path, k), warn);
    return out;
  }
  return value;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

export function interpolate(text: string, vars: ReadonlyMap<string, string>, path: string, warn: Warnings): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar < 0) return out + text.slice(i);
    out += text.slice(i, dollar);
    const next = text[dollar + 1];
    if (next === '$') {
      out += '$';
      i = dollar + 2;
    } else if (next === '{') {
      const end = closingBrace(text, dollar + 2);
      if (end < 0) {
        warn.add(path, `unclosed "\${" in the value: kept as written`);
        return out + text.slice(dollar);
      }
      out += expand(text.slice(dollar + 2, end), vars, path, warn);
      i = end + 1;
    } else {
      const name = NAME.exec(text.slice(dollar + 1))?.[0];
      if (name === undefined) {
        out += '$';
        i = dollar + 1;
      } else {
        out += variable(name, vars, path, warn);
        i = dollar + 1 + name.length;
      }
    }
  }
  return out;
}

/** The index of the "}" that closes a "${" whose body starts at `from`, counting nested "${". */
function closingBrace(text: string, from: number): number {
  let depth = 1;
  for (let j = from; j < text.length; j++) {
    if (text[j] === '$' && text[j + 1] === '{') {
      depth++;
      j++;
    } else if (text[j] === '}' && --depth === 0) return j;
  }
  return -1;
}

function expand(body: string, vars: ReadonlyMap<string, string>, path: string, warn: Warnings): string {
  const name = NAME.exec(body)?.[0];
  if (name === undefined) {
    warn.add(path, `"\${${body}}" is not a variable reference: kept as written`);
    return `\${${body}}`;
  }
  const rest = body.slice(name.length);
  if (rest === '') return variable(name, vars, path, warn);
  const m = /^(:?)([-?+])([\s\S]*)$/.exec(rest);
  if (!m) {
    warn.add(path, `"\${${body}}": unknown form after ${name}: kept as written`);
    return `\${${body}}`;
  }
  const [, colon, op, arg = ''] = m;
  const value = vars.get(name);
  const set = value !== undefined && (colon === '' || value !== '');
  if (op === '-') return set ? value : interpolate(arg, vars, path, warn);
  if (op === '+') return set ? interpolate(arg, vars, path, warn) : '';
  if (set) return value;
  warn.add(path, `variable ${name} is required but not set${arg ? ` (${arg})` : ''}: left empty`);
  return '';
}

function variable(name: string, vars: ReadonlyMap<string, string>, path: string, warn: Warnings): string {
  const value = vars.get(name);
  if (value !== undefined) return value;
  warn.add(path, `variable ${name} is not set (nor in the .env file next to the compose file): left empty`);
  return '';
}
