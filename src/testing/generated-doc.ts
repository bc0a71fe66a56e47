import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';

/**
 * Asserts that a generated document in the repository matches what the code renders now. With
 * UPDATE_GOLDEN=1 the file is rewritten instead.
 */
export async function assertGeneratedDoc(file: string, rendered: string): Promise<void> {
  if (process.env.UPDATE_GOLDEN === '1') {
    await writeFile(file, rendered);
    return;
  }
  const current = await readFile(file, 'utf8').catch(() => '');
  assert.equal(
    current,
    rendered,
    `${file} is stale: run npm run test:update-golden and review the diff`,
  );
}
