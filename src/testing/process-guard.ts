/**
 * Tests may not hang CI. In test code (`*.test.ts`, `*.contract.ts`) a long-running child starts
 * through `startChild` (src/testing/processes.ts), which bounds every wait and kills the child on
 * every path; a synchronous run (`spawnSync`, `execFileSync`, `execSync`) states its `timeout`.
 * `execFile` is left alone: it takes a timeout, and is mostly called through `promisify`.
 */
import ts from 'typescript';
import { isTestCode, type SourceFile, type Violation } from './layering.js';

const STARTERS = new Set(['spawn', 'fork', 'exec']);
const SYNC_RUNS = new Set(['spawnSync', 'execFileSync', 'execSync']);

/** The violations of the rules above in these files (paths relative to src/). */
export function checkTestProcesses(files: readonly SourceFile[]): Violation[] {
  const violations: Violation[] = [];
  for (const { file, source } of files) {
    if (!isTestCode(file) || !source.includes('child_process')) continue;
    const tree = ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
    const imported = childProcessBindings(tree);
    const constants = objectConstants(tree);
    const report = (node: ts.Node, problem: string): void => {
      const { line } = tree.getLineAndCharacterOfPosition(node.getStart(tree));
      violations.push({ file, line: line + 1, problem });
    };
    const visit = (node: ts.Node): void => {
      if (ts.isCallExpression(node)) {
        const name = childProcessFunction(node.expression, imported);
        if (name !== undefined && STARTERS.has(name)) {
          report(
            node,
            `starts a process with ${name}(); use startChild (src/testing/processes.ts)`,
          );
        } else if (name !== undefined && SYNC_RUNS.has(name) && !hasTimeout(node, constants)) {
          report(node, `runs ${name}() without a timeout option`);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(tree);
  }
  return violations;
}

interface Bindings {
  /** Local name → the child_process function it names. */
  readonly named: Map<string, string>;
  /** Local names of the whole module (`import * as cp`, `import cp`). */
  readonly modules: Set<string>;
}

function childProcessBindings(tree: ts.SourceFile): Bindings {
  const bindings: Bindings = { named: new Map(), modules: new Set() };
  for (const statement of tree.statements) {
    if (
      !ts.isImportDeclaration(statement) ||
      !ts.isStringLiteral(statement.moduleSpecifier) ||
      !/^(node:)?child_process$/u.test(statement.moduleSpecifier.text)
    ) {
      continue;
    }
    const clause = statement.importClause;
    if (clause?.name !== undefined) bindings.modules.add(clause.name.text);
    const named = clause?.namedBindings;
    if (named !== undefined && ts.isNamespaceImport(named)) bindings.modules.add(named.name.text);
    if (named !== undefined && ts.isNamedImports(named)) {
      for (const element of named.elements) {
        bindings.named.set(element.name.text, (element.propertyName ?? element.name).text);
      }
    }
  }
  return bindings;
}

/** The child_process function a callee names (`spawn`, `cp.spawn`), if it names one. */
function childProcessFunction(callee: ts.Expression, imported: Bindings): string | undefined {
  if (ts.isIdentifier(callee)) return imported.named.get(callee.text);
  if (
    ts.isPropertyAccessExpression(callee) &&
    ts.isIdentifier(callee.expression) &&
    imported.modules.has(callee.expression.text)
  ) {
    return callee.name.text;
  }
  return undefined;
}

/** Object literals bound to `const` names in the file, `as const` or not. */
function objectConstants(tree: ts.SourceFile): Map<string, ts.ObjectLiteralExpression> {
  const found = new Map<string, ts.ObjectLiteralExpression>();
  const visit = (node: ts.Node): void => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.initializer) {
      let init: ts.Expression = node.initializer;
      while (ts.isAsExpression(init) || ts.isSatisfiesExpression(init)) init = init.expression;
      if (ts.isObjectLiteralExpression(init)) found.set(node.name.text, init);
    }
    ts.forEachChild(node, visit);
  };
  visit(tree);
  return found;
}

/** Whether an argument of the call is an options object with a `timeout`. */
function hasTimeout(
  call: ts.CallExpression,
  constants: ReadonlyMap<string, ts.ObjectLiteralExpression>,
): boolean {
  return call.arguments.some((argument) => {
    const options = ts.isIdentifier(argument) ? constants.get(argument.text) : argument;
    return (
      options !== undefined &&
      ts.isObjectLiteralExpression(options) &&
      options.properties.some(
        (p) =>
          (ts.isPropertyAssignment(p) || ts.isShorthandPropertyAssignment(p)) &&
          ts.isIdentifier(p.name) &&
          p.name.text === 'timeout',
      )
    );
  });
}
