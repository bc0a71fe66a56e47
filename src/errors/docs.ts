/** Renders docs/errors.md from the error-code registry, so the docs cannot drift from the code. */
import { ERROR_CODES } from './codes.js';

/** The Markdown text of docs/errors.md. */
export function renderErrorsMarkdown(): string {
  const rows = Object.entries(ERROR_CODES).map(
    ([code, { status, summary }]) => `| \`${code}\` | ${status} | ${summary} |`,
  );
  return [
    '# Error codes',
    '',
    '<!-- Generated from src/errors/codes.ts by `npm run test:update-golden`; do not edit. -->',
    '',
    'Every error vpmu reports on purpose carries one of these stable codes. The HTTP API sends it in',
    'the `X-Compute-Error-Code` header beside Nova’s fault body; the CLI prints it in brackets after',
    'the message (`Error: … [spec.invalid_value]`) and in `{"error": {"code": …}}` with `--json`.',
    'Codes are append-only: once released, a code is never renamed, reused or given another status.',
    '',
    'The CLI exits with status 1 for every code except `cli.usage`, which exits with status 2.',
    '',
    '| Code | HTTP status | Meaning |',
    '|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
