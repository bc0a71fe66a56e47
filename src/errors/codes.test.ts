import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { it } from 'node:test';
import { assertGeneratedDoc } from '../testing/generated-doc.js';
import { ERROR_CODES } from './codes.js';
import { renderErrorsMarkdown } from './docs.js';

it('docs/errors.md is generated from ERROR_CODES', async () => {
  await assertGeneratedDoc('docs/errors.md', renderErrorsMarkdown());
});

it('docs/errors.md documents exactly the codes in ERROR_CODES, with their statuses', async () => {
  const text = await readFile('docs/errors.md', 'utf8');
  const documented = [...text.matchAll(/^\| `([a-z_.]+)` \| (\d{3}) \|/gmu)].map(
    ([, code, status]) => `${code ?? ''} ${status ?? ''}`,
  );
  const defined = Object.entries(ERROR_CODES).map(([code, { status }]) => `${code} ${status}`);
  assert.deepEqual(documented.sort(), defined.sort());
});

it('codes are namespaced snake_case', () => {
  for (const code of Object.keys(ERROR_CODES)) assert.match(code, /^[a-z]+\.[a-z_]+$/u);
});
