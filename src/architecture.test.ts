/**
 * Guards the import rules of DESIGN §3 (the table in src/testing/layering.ts) on every source file
 * under src/, and that tests start processes so that they cannot hang CI; shows that each guard
 * catches every kind of violation it exists for.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { checkLayering, type SourceFile } from './testing/layering.js';
import { checkTestProcesses } from './testing/process-guard.js';

/** src/ as the guard sees it (run from the repository root, as npm test does). */
function sources(): SourceFile[] {
  return readdirSync('src', { recursive: true, encoding: 'utf8' })
    .filter((rel) => rel.endsWith('.ts'))
    .map((rel) => ({
      file: rel.split(path.sep).join('/'),
      source: readFileSync(path.join('src', rel), 'utf8'),
    }));
}

describe('the layering of src/', () => {
  it('every file imports only what its layer allows', () => {
    const found = checkLayering(sources()).map((v) => `${v.file}:${String(v.line)} ${v.problem}`);
    assert.deepEqual(found, []);
  });
});

describe('the layering guard catches', () => {
  // prettier-ignore
  const VIOLATIONS: readonly { name: string; file: string; source: string; problem: RegExp }[] = [
    { name: 'a bare package in services/', file: 'services/x.ts', source: "import { Hono } from 'hono';", problem: /imports hono, allowed only in api, main/u },
    { name: 'better-sqlite3 outside adapters/', file: 'services/x.ts', source: "import Database from 'better-sqlite3';", problem: /imports better-sqlite3, allowed only in adapters/u },
    { name: 'a subpath of a restricted package', file: 'domain/x.ts', source: "import { bodyLimit } from 'hono/body-limit';", problem: /imports hono\/body-limit, allowed only in api, main/u },
    { name: 'a scoped package', file: 'cli/x.ts', source: "import { serve } from '@hono/node-server';", problem: /imports @hono\/node-server, allowed only/u },
    { name: 'pino outside main/', file: 'api/x.ts', source: "import pino from 'pino';", problem: /imports pino, allowed only in main/u },
    { name: 'a package the table does not list', file: 'main/x.ts', source: "import left from 'left-pad';", problem: /a package the layering table does not list/u },
    { name: 'node:fs in services/', file: 'services/x.ts', source: "import { readFileSync } from 'node:fs';", problem: /imports node:fs \(I\/O\)/u },
    { name: 'fs without the node: prefix', file: 'specs/x.ts', source: "import fs from 'fs';", problem: /imports fs \(I\/O\)/u },
    { name: 'node:child_process in a pure folder', file: 'xml/x.ts', source: "import { spawn } from 'node:child_process';", problem: /imports node:child_process \(I\/O\)/u },
    { name: 'an unclassified built-in', file: 'domain/x.ts', source: "import { Worker } from 'node:wasi';", problem: /a built-in the layering table does not classify/u },
    { name: 'a double-quoted import', file: 'domain/x.ts', source: 'import { x } from "../services/index.js";', problem: /imports services\/ \(\.\.\/services\/index\.js\)/u },
    { name: 'a relative import to a forbidden layer', file: 'adapters/store/x.ts', source: "import { createServer } from '../../services/index.js';", problem: /imports services\//u },
    { name: 'an export … from', file: 'ports/x.ts', source: "export { x } from '../adapters/y.js';", problem: /imports adapters\//u },
    { name: 'a type-only import', file: 'domain/x.ts', source: "import type { Store } from '../ports/store.js';", problem: /imports ports\//u },
    { name: 'a multi-line import', file: 'errors/x.ts', source: "import {\n  a,\n  b,\n} from\n  '../domain/index.js';", problem: /imports domain\//u },
    { name: 'a dynamic import()', file: 'services/x.ts', source: "const m = await import('node:fs/promises');", problem: /imports node:fs\/promises \(I\/O\)/u },
    { name: 'a computed import() in services/', file: 'services/x.ts', source: 'const m = await import(name);', problem: /imports a computed module name/u },
    { name: 'require()', file: 'services/x.ts', source: "const net = require('node:net');", problem: /imports node:net \(I\/O\)/u },
    { name: 'an import type in a type position', file: 'domain/x.ts', source: "type A = import('../api/app.js').App;", problem: /imports api\//u },
    { name: 'process in services/', file: 'services/x.ts', source: 'const dir = process.env.HOME;', problem: /uses process/u },
    { name: 'process in a pure folder', file: 'design/x.ts', source: 'process.exit(1);', problem: /uses process/u },
    { name: 'main/ importing bench/', file: 'main/x.ts', source: "import { runBench } from '../bench/main.js';", problem: /imports test or bench support/u },
    { name: 'api/ importing testing/', file: 'api/x.ts', source: "import { makeTestApi } from '../testing/api.js';", problem: /imports test or bench support/u },
    { name: 'kysely in main/', file: 'main/x.ts', source: "import { Kysely } from 'kysely';", problem: /imports kysely, allowed only in adapters/u },
    { name: 'node:test in production code', file: 'main/x.ts', source: "import { it } from 'node:test';", problem: /imports node:test, which is for tests/u },
    { name: 'a main/ import of test support', file: 'main/x.ts', source: "import { MemoryDisks } from '../testing/memory-disks.js';", problem: /imports test or bench support/u },
    { name: 'production code importing a contract suite', file: 'main/x.ts', source: "import { storeContract } from '../ports/store.contract.js';", problem: /imports test or bench support/u },
    { name: 'src/index.ts exporting an adapter', file: 'index.ts', source: "export * from './adapters/store/sqlite-store.js';", problem: /imports adapters\//u },
    { name: 'src/index.ts exporting main/', file: 'index.ts', source: "export { startService } from './main/serve.js';", problem: /imports main\//u },
    { name: 'an import outside src/', file: 'api/x.ts', source: "import x from '../../scripts/y.js';", problem: /outside src\//u },
    { name: 'a folder with no rule', file: 'plugins/x.ts', source: '', problem: /has no rule in the layering table/u },
  ];
  for (const v of VIOLATIONS) {
    it(v.name, () => {
      const found = checkLayering([{ file: v.file, source: v.source }]);
      assert.equal(found.length, 1, JSON.stringify(found));
      assert.match(found[0]?.problem ?? '', v.problem);
    });
  }

  it('and lets through what the rules allow', () => {
    const allowed: SourceFile[] = [
      {
        file: 'api/x.ts',
        source: "import { Hono } from 'hono';\nimport { x } from '../services/index.js';",
      },
      {
        file: 'adapters/x.ts',
        source:
          "import Database from 'better-sqlite3';\nimport { readFile } from 'node:fs/promises';",
      },
      {
        file: 'main/x.ts',
        source:
          "import pino from 'pino';\nimport { a } from '../adapters/y.js';\nconst e = process.env;",
      },
      {
        file: 'services/x.ts',
        source:
          "import { createHash } from 'node:crypto';\nimport type { Store } from '../ports/store.js';",
      },
      {
        file: 'xml/x.ts',
        source:
          "import { SaxesParser } from 'saxes';\n// import fs from 'node:fs' in a comment\nconst s = \"import x from 'hono'\";",
      },
      {
        file: 'services/x.test.ts',
        source:
          "import { spawn } from 'node:child_process';\nimport { a } from '../testing/api.js';",
      },
      {
        file: 'bench/x.ts',
        source:
          "import { aFlavor } from '../testing/fixtures.js';\nimport { startService } from '../main/serve.js';",
      },
      {
        file: 'testing/x.ts',
        source:
          "import Database from 'better-sqlite3';\nimport amqp from 'amqplib';\nimport { it } from 'node:test';",
      },
      {
        file: 'index.ts',
        source: "export * from './domain/index.js';\nexport * from './services/index.js';",
      },
    ];
    assert.deepEqual(checkLayering(allowed), []);
  });
});

describe('tests that start processes', () => {
  it('start them through startChild, and bound every synchronous run', () => {
    const found = checkTestProcesses(sources()).map(
      (v) => `${v.file}:${String(v.line)} ${v.problem}`,
    );
    assert.deepEqual(found, []);
  });

  // prettier-ignore
  const VIOLATIONS: readonly { name: string; source: string; problem: RegExp }[] = [
    { name: 'spawn()', source: "import { spawn } from 'node:child_process';\nspawn('vpmu', []);", problem: /starts a process with spawn\(\); use startChild/u },
    { name: 'a renamed fork()', source: "import { fork as f } from 'child_process';\nf('x.js');", problem: /starts a process with fork\(\)/u },
    { name: 'exec() through the module', source: "import * as cp from 'node:child_process';\ncp.exec('sleep 1');", problem: /starts a process with exec\(\)/u },
    { name: 'spawnSync() without options', source: "import { spawnSync } from 'node:child_process';\nspawnSync('virsh', ['list']);", problem: /runs spawnSync\(\) without a timeout option/u },
    { name: 'execFileSync() with options but no timeout', source: "import { execFileSync } from 'node:child_process';\nexecFileSync('qemu-img', ['info'], { encoding: 'utf8' });", problem: /runs execFileSync\(\) without a timeout/u },
    { name: 'execSync() with a named options object but no timeout', source: "import { execSync } from 'node:child_process';\nconst OPTIONS = { encoding: 'utf8' } as const;\nexecSync('ls', OPTIONS);", problem: /runs execSync\(\) without a timeout/u },
  ];
  for (const v of VIOLATIONS) {
    it(`catches ${v.name}`, () => {
      const found = checkTestProcesses([{ file: 'main/x.test.ts', source: v.source }]);
      assert.equal(found.length, 1, JSON.stringify(found));
      assert.match(found[0]?.problem ?? '', v.problem);
    });
  }

  it('lets through bounded runs, execFile, RegExp exec and production code', () => {
    const allowed: SourceFile[] = [
      {
        file: 'main/x.test.ts',
        source: [
          "import { execFile, spawnSync, execFileSync } from 'node:child_process';",
          "spawnSync('virsh', ['list'], { encoding: 'utf8', timeout: 60_000 });",
          'const BOUNDED = { timeout: 1_000 } as const;',
          "execFileSync('qemu-img', ['info'], BOUNDED);",
          "execFile('virsh', ['list'], { timeout: 1_000 }, () => undefined);",
          "/x/u.exec('x');",
        ].join('\n'),
      },
      { file: 'main/x.ts', source: "import { spawn } from 'node:child_process';\nspawn('x', []);" },
    ];
    assert.deepEqual(checkTestProcesses(allowed), []);
  });
});
