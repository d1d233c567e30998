import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Redactor } from '../src/core/redact.js';

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
