/**
 * The import rules of DESIGN §3 as one table, and a pure check of source files against it.
 *
 * Imports are read from the syntax tree (TypeScript's parser): `import … from`, `import type`,
 * `export … from`, `import x = require()`, `require()` and `import()`, in either quote style.
 * Type-only imports follow the same rules: a type from a layer is a dependency on it. Bare package
 * names and node built-ins are checked too, and a pure layer may not touch `process`.
 */
import path from 'node:path';
import ts from 'typescript';

/** Folders (and the one top-level file) under src/, each with what it may depend on. */
interface LayerRule {
  /** Layers this one may import (its own files always); `all`: every production layer. */
  readonly imports: readonly string[] | 'all';
  /** Whether it may do I/O: node's I/O built-ins, `process`, computed `import()`. */
  readonly io: boolean;
  /**
   * Test and measurement support: may import anything (any package, test support included),
   * and only tests and other support code may import it.
   */
  readonly support?: true;
}

const PURE_CORE = [
  'errors',
  'domain',
  'specs',
  'design',
  'xml',
  'host',
  'scheduler',
  'notifications',
] as const;

/** Every folder of src/ (and the one top-level file), with its rule. */
export const LAYERS: Readonly<Record<string, LayerRule>> = {
  errors: { imports: [], io: false },
  domain: { imports: ['errors'], io: false },
  specs: { imports: ['domain', 'errors'], io: false },
  design: { imports: ['domain', 'specs', 'errors'], io: false },
  xml: { imports: ['domain', 'errors'], io: false },
  host: { imports: ['domain', 'errors', 'xml'], io: false },
  scheduler: { imports: ['domain', 'specs', 'errors'], io: false },
  notifications: { imports: ['domain', 'errors'], io: false },
  ports: { imports: ['domain', 'errors'], io: false },
  services: { imports: [...PURE_CORE, 'ports'], io: false },
  adapters: { imports: ['domain', 'errors', 'ports'], io: true },
  api: { imports: ['services', 'domain', 'errors'], io: true },
  cli: { imports: ['services', 'domain', 'errors'], io: true },
  main: { imports: 'all', io: true },
  bench: { imports: 'all', io: true, support: true },
  // src/index.ts: the library, "with no I/O": the pure core and the services.
  'index.ts': { imports: [...PURE_CORE, 'services'], io: false },
  testing: { imports: 'all', io: true, support: true },
};

/** Where each npm package may be imported (test code and support layers may import any). */
export const PACKAGES: Readonly<Record<string, readonly string[]>> = {
  hono: ['api', 'main'],
  '@hono/node-server': ['api', 'main'],
  'better-sqlite3': ['adapters'],
  kysely: ['adapters'],
  amqplib: ['adapters'],
  '@unraid/libvirt': ['adapters'],
  pg: ['adapters'],
  pino: ['main'],
  // XML parsing is pure computation.
  'fast-xml-parser': ['xml', 'adapters'],
  'fast-xml-validator': ['xml', 'adapters'],
  saxes: ['xml'],
  typescript: [],
};

/** Node built-ins that reach outside the process (or reshape the runtime): only where `io`. */
const IO_BUILTINS = new Set([
  'fs',
  'fs/promises',
  'child_process',
  'net',
  'http',
  'https',
  'http2',
  'dgram',
  'dns',
  'dns/promises',
  'tls',
  'worker_threads',
  'cluster',
  'os',
  'process',
  'readline',
  'inspector',
  'v8',
  'vm',
]);
/** Node built-ins that compute only: allowed everywhere. */
const PURE_BUILTINS = new Set([
  'path',
  'crypto',
  'util',
  'url',
  'buffer',
  'events',
  'string_decoder',
  'stream',
  'stream/promises',
  'perf_hooks',
  'assert',
  'assert/strict',
]);
/** Built-ins for tests only. */
const TEST_BUILTINS = new Set(['test']);

export interface SourceFile {
  /** Path relative to src/, with forward slashes: `services/servers.ts`. */
  readonly file: string;
  readonly source: string;
}

export interface Violation {
  readonly file: string;
  readonly line: number;
  readonly problem: string;
}

/** The layer a src/-relative path belongs to: its first folder, or the file itself at the top. */
export function layerOf(file: string): string {
  return file.split('/')[0] ?? file;
}

/** Test code (`*.test.ts`, `*.contract.ts`) may import anything; only production code is ruled. */
export function isTestCode(file: string): boolean {
  return /\.(test|contract)\.ts$/u.test(file);
}

interface Reference {
  /** The module specifier, or undefined for a computed `import()`. */
  readonly specifier: string | undefined;
  readonly line: number;
}

/** Every module the file refers to, and every use of the `process` global. */
function scan(file: string, source: string): { refs: Reference[]; processUses: number[] } {
  const tree = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const refs: Reference[] = [];
  const processUses: number[] = [];
  const lineOf = (node: ts.Node): number =>
    tree.getLineAndCharacterOfPosition(node.getStart(tree)).line + 1;
  const literal = (node: ts.Node | undefined): string | undefined =>
    node !== undefined && ts.isStringLiteralLike(node) ? node.text : undefined;
  const visit = (node: ts.Node): void => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier !== undefined
    ) {
      refs.push({ specifier: literal(node.moduleSpecifier), line: lineOf(node) });
    } else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference)
    ) {
      refs.push({ specifier: literal(node.moduleReference.expression), line: lineOf(node) });
    } else if (
      ts.isCallExpression(node) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword ||
        (ts.isIdentifier(node.expression) && node.expression.text === 'require'))
    ) {
      refs.push({ specifier: literal(node.arguments[0]), line: lineOf(node) });
    } else if (ts.isImportTypeNode(node)) {
      // `typeof import('x')` and `import('x').T` in types
      const argument = node.argument;
      refs.push({
        specifier: ts.isLiteralTypeNode(argument) ? literal(argument.literal) : undefined,
        line: lineOf(node),
      });
    } else if (
      ts.isPropertyAccessExpression(node) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'process'
    ) {
      processUses.push(lineOf(node));
    }
    ts.forEachChild(node, visit);
  };
  visit(tree);
  return { refs, processUses };
}

/** The package name of a bare specifier: `hono/body-limit` → `hono`, `@hono/x/y` → `@hono/x`. */
function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
}

/** The violations of the rules in these files (paths relative to src/); test code is exempt. */
export function checkLayering(files: readonly SourceFile[]): Violation[] {
  const violations: Violation[] = [];
  for (const { file, source } of files) {
    if (isTestCode(file)) continue;
    const layer = layerOf(file);
    const rule = LAYERS[layer];
    const report = (line: number, problem: string): void => {
      violations.push({ file, line, problem });
    };
    if (rule === undefined) {
      report(1, `is in ${layer}, which has no rule in the layering table`);
      continue;
    }
    const { refs, processUses } = scan(file, source);
    if (!rule.io) {
      for (const line of processUses) report(line, 'uses process (I/O or configuration)');
    }
    for (const { specifier, line } of refs) {
      const problem =
        specifier === undefined
          ? rule.io
            ? undefined
            : 'imports a computed module name'
          : specifier.startsWith('.')
            ? relativeProblem(file, layer, rule, specifier)
            : moduleProblem(layer, rule, specifier);
      if (problem !== undefined) report(line, problem);
    }
  }
  return violations;
}

function relativeProblem(
  file: string,
  layer: string,
  rule: LayerRule,
  specifier: string,
): string | undefined {
  const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), specifier));
  if (target.startsWith('..')) return `imports ${specifier}, outside src/`;
  const targetLayer = layerOf(target);
  if (rule.support === true) return undefined;
  if (LAYERS[targetLayer]?.support === true || isTestCode(target.replace(/\.js$/u, '.ts'))) {
    return `imports test or bench support (${specifier})`;
  }
  if (targetLayer === layer || rule.imports === 'all' || rule.imports.includes(targetLayer)) {
    return undefined;
  }
  return `imports ${targetLayer}/ (${specifier})`;
}

function moduleProblem(layer: string, rule: LayerRule, specifier: string): string | undefined {
  if (rule.support === true) return undefined;
  const builtin = specifier.startsWith('node:') ? specifier.slice('node:'.length) : specifier;
  if (IO_BUILTINS.has(builtin)) return rule.io ? undefined : `imports ${specifier} (I/O)`;
  if (PURE_BUILTINS.has(builtin)) return undefined;
  if (TEST_BUILTINS.has(builtin)) return `imports ${specifier}, which is for tests`;
  if (specifier.startsWith('node:')) {
    return `imports ${specifier}, a built-in the layering table does not classify`;
  }
  const homes = PACKAGES[packageOf(specifier)];
  if (homes === undefined)
    return `imports ${specifier}, a package the layering table does not list`;
  return homes.includes(layer)
    ? undefined
    : `imports ${specifier}, allowed only in ${homes.join(', ') || 'tests and their support'}`;
}
