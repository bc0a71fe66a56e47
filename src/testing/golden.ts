import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Root of the golden files, relative to the repository (tests run from the repository root). */
export const GOLDEN_ROOT = path.resolve('testdata/golden');

/**
 * Compares `actual` with testdata/golden/<relPath>. With UPDATE_GOLDEN=1 it rewrites the file
 * instead; the diff is then reviewed like code.
 */
export async function assertGolden(relPath: string, actual: string): Promise<void> {
  const file = path.join(GOLDEN_ROOT, relPath);
  if (process.env.UPDATE_GOLDEN === '1') {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, actual);
    return;
  }
  let expected: string;
  try {
    expected = await readFile(file, 'utf8');
  } catch (cause) {
    throw new Error(`Cannot read golden file "${relPath}": run npm run test:update-golden`, {
      cause,
    });
  }
  assert.equal(actual, expected, `Output differs from golden file "${relPath}"`);
}
