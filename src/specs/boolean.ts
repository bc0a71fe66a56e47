/**
 * The one boolean grammar (DESIGN §2.2), shared by every flavor extra spec and image property.
 * It matches oslo.utils' TRUE_STRINGS/FALSE_STRINGS; unlike Nova's non-strict parsing, anything
 * else is reported, never turned into false.
 */
export const TRUE_WORDS: readonly string[] = ['1', 't', 'true', 'on', 'y', 'yes'];
export const FALSE_WORDS: readonly string[] = ['0', 'f', 'false', 'off', 'n', 'no'];

/** How the accepted words read in messages and docs. */
export const BOOLEAN_GRAMMAR = 'true/false, yes/no, on/off, 1/0, t/f, y/n (any case)';

/**
 * Parses a boolean-like value: booleans pass through; other scalars are compared, trimmed and
 * lower-cased, with the twelve accepted words. Returns undefined for anything else.
 */
export function parseBoolean(raw: string | number | boolean): boolean | undefined {
  if (typeof raw === 'boolean') return raw;
  const word = String(raw).trim().toLowerCase();
  if (TRUE_WORDS.includes(word)) return true;
  if (FALSE_WORDS.includes(word)) return false;
  return undefined;
}
