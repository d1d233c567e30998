import type { z } from 'zod';
import { nameProblem } from '../core/names.js';
import { closest } from '../core/did-you-mean.js';
import { keysAt, valueAt, type KeyPath, type Problem } from './manifest-errors.js';
import { ruleFor } from './manifest-rules.js';
import { manifestSchema } from './manifest-schema.js';
import { refusedKeyProblem } from './manifest-containers.js';

/** Turns zod's issues into Problems with our own wording: key path, expectation, hint. */
export function zodProblems(issues: readonly z.core.$ZodIssue[], input: unknown): Problem[] {
  const all = issues.flatMap((issue) => issueProblems(issue, input));
  const seen = new Set<string>();
  // A misspelt required key shows up twice: as unknown and as missing. Keep the "did you mean".
  const suggested = new Set(
    all.flatMap((p) => (p.suggestion ? [[...p.path.slice(0, -1), p.suggestion].join('.')] : [])),
  );
  return all.filter((p) => {
    const key = p.path.join('.') + '\0' + p.message;
    if (seen.has(key) || (p.missing && suggested.has(p.path.join('.')))) return false;
    seen.add(key);
    return true;
  });
}

function issueProblems(issue: z.core.$ZodIssue, input: unknown): Problem[] {
  const at = issue.path as KeyPath;
  if (issue.code === 'unrecognized_keys') {
    const allowed = keysAt(manifestSchema, at);
    return issue.keys.map((key) => {
      const refused = refusedKeyProblem(at, key);
      if (refused) return refused;
      const suggestion = closest(key, allowed);
      return {
        path: [...at, key],
        atKey: true,
        message: `unknown key "${key}"`,
        hint: suggestion
          ? `did you mean "${suggestion}"?`
          : allowed.length > 0
            ? `allowed here: ${allowed.join(', ')}`
            : undefined,
        suggestion,
      };
    });
  }
  if (issue.code === 'invalid_key') return [keyProblem(at)];
  const value = valueAt(input, at);
  if (issue.code === 'invalid_union' && value !== null && typeof value === 'object') {
    // A list or mapping went to the branch of its own shape: report that branch's inner problems.
    const inner = issue.errors.find(
      (branch) => branch.length > 0 && branch.every((i) => i.path.length > 0 || i.code === 'unrecognized_keys'),
    );
    if (inner) return inner.flatMap((i) => issueProblems({ ...i, path: [...at, ...i.path] }, input));
  }
  // A refinement's own message says what is wrong (a duration past a timer's range).
  if (issue.code === 'custom') return [{ path: at, message: issue.message, showGot: true }];
  const rule = ruleFor(at);
  const expected = rule?.expected ?? issue.message;
  if (value === undefined) {
    return [{ path: at, message: `is required: expected ${expected}`, missing: true }];
  }
  if (isNameField(at) && typeof value === 'string') {
    const why = nameProblem(value);
    if (why) return [{ path: at, message: `expected ${expected}, got ${JSON.stringify(value)}, which ${why}` }];
  }
  if (issue.code === 'invalid_value' && typeof value === 'string') {
    const guess = closest(value, issue.values.map(String));
    if (guess) return [{ path: at, message: `expected ${expected}`, showGot: true, hint: `did you mean "${guess}"?` }];
  }
  return [{ path: at, message: `expected ${expected}`, showGot: true }];
}

function keyProblem(at: KeyPath): Problem {
  const key = String(at[at.length - 1]);
  const parent = at.slice(0, -1);
  if (parent.length === 1 && parent[0] === 'services') {
    return {
      path: at,
      atKey: true,
      message: `invalid service name ${JSON.stringify(key)}: it ${nameProblem(key) ?? 'is not a DNS label'}`,
      hint: 'names are DNS labels: 1-63 characters of a-z, 0-9 and "-", starting and ending with a letter or digit',
    };
  }
  return {
    path: at,
    atKey: true,
    message: `invalid variable name ${JSON.stringify(key)}: expected letters, digits and "_", not starting with a digit`,
    hint: 'e.g. DATABASE_URL',
  };
}

function isNameField(at: KeyPath): boolean {
  return (at.length === 1 && at[0] === 'app') || (at.length === 4 && at[2] === 'depends_on');
}
