import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Redactor, redactTree } from '../src/core/redact.js';

test('redaction hides values in strings only: numbers, keys and JSON stay intact', () => {
  const r = new Redactor();
  r.set(['543210', 'hunter2-long', 'abc']);
  const out = r.redactDeep({ at: 17180354321012, note: 'pass hunter2-long and 543210', list: ['543210'], abc: 'abc' });
  assert.deepEqual(
    out,
    { at: 17180354321012, note: 'pass [redacted] and [redacted]', list: ['[redacted]'], abc: 'abc' },
    'values under 6 characters are no secrets worth hiding',
  );
  assert.equal(r.redact('x 543210 y'), 'x [redacted] y');
});

test('a multi-line secret (a PEM key) is hidden whole and line by line, as logs show it', () => {
  const r = new Redactor();
  const pem = '-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEF\nAASCBKcwggSjAgEAAoIBAQC7\n-----END KEY-----';
  r.set([pem]);
  assert.equal(r.redact(`key: ${pem}`), 'key: [redacted]');
  assert.equal(r.redact('log line: AASCBKcwggSjAgEAAoIBAQC7'), 'log line: [redacted]');
});

test("a record is redacted with its own app's secrets, and never in its names and states", () => {
  const of: Record<string, Redactor> = { a: new Redactor(), b: new Redactor() };
  of.a?.set(['token-of-a']);
  of.b?.set(['healthy', 'production', 'token-of-a-in-b']);
  const records = [
    { app: 'a', env: 'production', state: 'healthy', message: 'printed token-of-a and healthy' },
    { app: 'b', env: 'production', state: 'healthy', message: 'b is healthy in production' },
  ];
  assert.deepEqual(
    redactTree(records, (app) => of[app] ?? new Redactor()),
    [
      { app: 'a', env: 'production', state: 'healthy', message: 'printed [redacted] and healthy' },
      { app: 'b', env: 'production', state: 'healthy', message: 'b is [redacted] in [redacted]' },
    ],
  );
  assert.equal(
    redactTree('outside: token-of-a', () => new Redactor(), of.a),
    'outside: [redacted]',
  );
});
