import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FALSE_WORDS, parseBoolean, TRUE_WORDS } from './boolean.js';

// prettier-ignore
const CASES: readonly { readonly raw: string | number | boolean; readonly want: boolean | undefined }[] = [
  ...TRUE_WORDS.map((raw) => ({ raw, want: true })),
  ...FALSE_WORDS.map((raw) => ({ raw, want: false })),
  { raw: 'TRUE', want: true }, { raw: ' Yes ', want: true }, { raw: '\tOFF\n', want: false },
  { raw: true, want: true }, { raw: false, want: false }, { raw: 1, want: true }, { raw: 0, want: false },
  // Nova's non-strict parser turns all of these into False; we report them instead.
  { raw: 'maybe', want: undefined }, { raw: '', want: undefined }, { raw: '2', want: undefined },
  { raw: '1.0', want: undefined }, { raw: 'enabled', want: undefined }, { raw: 'ture', want: undefined },
  { raw: '00', want: undefined }, { raw: 'yah', want: undefined }, { raw: 2, want: undefined },
];

describe('parseBoolean()', () => {
  for (const { raw, want } of CASES) {
    it(`reads ${JSON.stringify(raw)} as ${String(want)}`, () => {
      assert.equal(parseBoolean(raw), want);
    });
  }
});
