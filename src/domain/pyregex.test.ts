import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compilePyRegex, PyRegexError } from './pyregex.js';

// Each row: pattern, text, what Python's re.search(pattern, text) is not None says.
const CASES: readonly [string, string, boolean][] = [
  ['abc', 'xxabcxx', true],
  ['^abc', 'xxabc', false],
  ['^abc$', 'abc', true],
  ['abc$', 'abc\n', true],
  ['abc$', 'abc\n\n', false],
  ['abc\\Z', 'abc\n', false],
  ['\\Aab', 'ab', true],
  ['a.c', 'a\nc', false],
  ['(?s)a.c', 'a\nc', true],
  ['(?i)ABC', 'xabcx', true],
  ['ABC', 'abc', false],
  ['colou?r', 'color', true],
  ['a{2,3}', 'a', false],
  ['a{2,3}', 'caac', true],
  ['^a{2}$', 'aaa', false],
  ['x{,2}y', 'y', true],
  ['a{', 'a{', true],
  ['[a-c]+x', 'zzbx', true],
  ['[^a-c]x', 'ax', false],
  ['[\\d]+-\\w+', 'v12-ab', true],
  ['\\bfoo\\b', 'a foo b', true],
  ['\\bfoo\\b', 'afoob', false],
  ['\\Bfoo', 'afoo', true],
  ['cat|dog', 'hotdog', true],
  ['^(cat|dog)$', 'cats', false],
  ['(?:ab)+$', 'xabab', true],
  ['(?P<n>a)b', 'ab', true],
  ['\\x41', 'A', true],
  ['a\\.b', 'axb', false],
  ['a\\.b', 'a.b', true],
  ['', 'anything', true],
  ['a|', 'zzz', true],
  ['(a+)+$', `${'a'.repeat(26)}b`, false],
  ['(a|aa)*c', 'a'.repeat(40), false],
  ['server-[0-9]+', 'server-42', true],
  ['é', 'café', true],
];

describe('compilePyRegex()', () => {
  for (const [pattern, text, want] of CASES) {
    it(`search(${JSON.stringify(pattern)}, ${JSON.stringify(text)}) is ${want}`, () => {
      assert.equal(compilePyRegex(pattern).search(text), want);
    });
  }

  for (const bad of ['(', 'a)', '*a', 'a**', '[a', '[z-a]', '\\q', 'a{3,2}']) {
    it(`refuses the invalid pattern ${JSON.stringify(bad)}`, () => {
      assert.throws(
        () => compilePyRegex(bad),
        (e: unknown) => e instanceof PyRegexError && e.kind === 'invalid',
      );
    });
  }

  for (const unsupported of ['(a)\\1', '(?=a)', '(?!a)b', '(?<=a)b', 'a{100000}']) {
    it(`refuses the unsupported pattern ${JSON.stringify(unsupported)}`, () => {
      assert.throws(
        () => compilePyRegex(unsupported),
        (e: unknown) => e instanceof PyRegexError && e.kind === 'unsupported',
      );
    });
  }

  it('runs catastrophic patterns over long text in linear time (it completes, with the right answer)', () => {
    const text = `${'a'.repeat(5000)}b`;
    for (const pattern of ['(a+)+$', '^(a*)*$', '^(a|a)*$', '(a|aa)+$', '(.*a){20}$']) {
      assert.equal(compilePyRegex(pattern).search(text), false, pattern);
    }
    assert.equal(compilePyRegex('(a+)+b$').search(text), true);
  });
});
