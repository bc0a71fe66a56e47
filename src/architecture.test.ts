/** Guards the folder import rules of DESIGN §3: a pure core, I/O only in adapters and main. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';

const PURE = new Set([
  'errors',
  'domain',
  'specs',
  'design',
  'xml',
  'host',
  'scheduler',
  'notifications',
]);
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  errors: [],
  domain: ['errors'],
  specs: ['domain', 'errors'],
  design: ['domain', 'specs', 'errors'],
  xml: ['domain', 'errors'],
  host: ['domain', 'errors', 'xml'],
  scheduler: ['domain', 'specs', 'errors'],
  notifications: ['domain', 'errors'],
  ports: ['domain', 'errors'],
  services: [
    'domain',
    'errors',
    'specs',
    'design',
    'xml',
    'host',
    'scheduler',
    'notifications',
    'ports',
  ],
  adapters: ['domain', 'errors', 'ports'],
  api: ['services', 'domain', 'errors'],
  cli: ['services', 'domain', 'errors'],
};
const IO_MODULE = /^node:(fs|child_process|net|http|https|dgram|worker_threads|process|os)(\/|$)/u;
const IMPORT = /\b(?:from|import)\s*\(?\s*'([^']+)'/gu;

it('src/ layers import only what their layer allows', () => {
  const problems: string[] = [];
  for (const rel of readdirSync('src', { recursive: true, encoding: 'utf8' })) {
    if (!rel.endsWith('.ts') || /\.(test|contract)\.ts$/u.test(rel)) continue;
    const layer = rel.split(path.sep)[0] ?? '';
    const allowed = ALLOWED[layer];
    if (allowed === undefined) continue; // main/ and testing/ may import anything
    const source = readFileSync(path.join('src', rel), 'utf8');
    for (const [, spec = ''] of source.matchAll(IMPORT)) {
      if (PURE.has(layer) && (IO_MODULE.test(spec) || spec === 'process')) {
        problems.push(`${rel} imports ${spec}`);
      }
      if (!spec.startsWith('.')) continue;
      const target =
        path.relative('src', path.join('src', path.dirname(rel), spec)).split(path.sep)[0] ?? '';
      if (target !== layer && !allowed.includes(target)) problems.push(`${rel} imports ${target}/`);
    }
    if (PURE.has(layer) && /\bprocess\.(env|argv|cwd|exit)/u.test(source)) {
      problems.push(`${rel} reads process state`);
    }
  }
  assert.deepEqual(problems, []);
});
