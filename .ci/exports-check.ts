/**
 * Fails when a public signature names a type the package does not export.
 *
 * Reads the built declarations (dist/**.d.ts, what a user's compiler sees), starts from what
 * each entry point (`connection-manager-kit`, `connection-manager-kit/machines`) exports, and
 * walks every type those declarations name, transitively. A type declared inside the package
 * that is reached this way but exported by no entry point is a problem: users can meet it in a
 * signature yet cannot name it. Members and declarations tagged `@internal` are not public (the
 * API docs leave them out too) and are not walked. Types of dependencies (xstate, node) are not
 * ours to export.
 *
 * Usage: `tsx .ci/exports-check.ts` after `npm run build`. Exit code 1 lists each problem.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export interface UnexportedType {
  /** The type's name, as declared. */
  name: string;
  /** The declaration file that declares it, relative to the package root. */
  declaredIn: string;
  /** An exported (or itself unexported) name whose declaration names it. */
  referencedBy: string;
}

/** Every type reachable from the entry points' exports that no entry point exports. */
export function findUnexportedTypes(entryFiles: readonly string[], packageRoot: string): UnexportedType[] {
  const root = path.resolve(packageRoot);
  const program = ts.createProgram({
    rootNames: entryFiles.map((f) => path.resolve(root, f)),
    options: {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: ['node'],
    },
  });
  const checker = program.getTypeChecker();
  const inPackage = (file: string): boolean => {
    const rel = path.relative(root, path.resolve(file));
    return !rel.startsWith('..') && !rel.split(path.sep).includes('node_modules');
  };
  const resolve = (symbol: ts.Symbol): ts.Symbol =>
    symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;

  const exported = new Set<ts.Symbol>();
  for (const entry of entryFiles) {
    const source = program.getSourceFile(path.resolve(root, entry));
    if (source === undefined) throw new Error(`entry point not found: ${entry}`);
    const moduleSymbol = checker.getSymbolAtLocation(source);
    if (moduleSymbol === undefined) throw new Error(`not a module: ${entry}`);
    for (const symbol of checker.getExportsOfModule(moduleSymbol)) exported.add(resolve(symbol));
  }

  const problems = new Map<ts.Symbol, UnexportedType>();
  const visited = new Set<ts.Symbol>();
  const queue: ts.Symbol[] = [...exported];

  const isInternal = (node: ts.Node): boolean => ts.getJSDocTags(node).some((tag) => tag.tagName.text === 'internal');

  const referenced = (node: ts.Node): ts.Symbol | undefined => {
    let name: ts.Node | undefined;
    if (ts.isTypeReferenceNode(node)) name = node.typeName;
    else if (ts.isExpressionWithTypeArguments(node)) name = node.expression;
    else if (ts.isTypeQueryNode(node)) name = node.exprName;
    else if (ts.isImportTypeNode(node)) name = node.qualifier;
    if (name === undefined) return undefined;
    // `a.b.C` names C: the rightmost part.
    while (ts.isQualifiedName(name) || ts.isPropertyAccessExpression(name)) name = ts.isQualifiedName(name) ? name.right : name.name;
    const symbol = checker.getSymbolAtLocation(name);
    return symbol === undefined ? undefined : resolve(symbol);
  };

  const walk = (owner: ts.Symbol, node: ts.Node): void => {
    if (node !== undefined && isInternal(node)) return;
    const target = referenced(node);
    if (target !== undefined && !(target.flags & ts.SymbolFlags.TypeParameter)) {
      const declarations = target.declarations ?? [];
      const ours = declarations.find((d) => inPackage(d.getSourceFile().fileName));
      if (ours !== undefined) {
        if (!exported.has(target) && !problems.has(target)) {
          problems.set(target, {
            name: target.getName(),
            declaredIn: path.relative(root, ours.getSourceFile().fileName),
            referencedBy: owner.getName(),
          });
        }
        if (!visited.has(target)) queue.push(target);
      }
    }
    ts.forEachChild(node, (child) => walk(owner, child));
  };

  for (let symbol = queue.shift(); symbol !== undefined; symbol = queue.shift()) {
    if (visited.has(symbol)) continue;
    visited.add(symbol);
    for (const declaration of symbol.declarations ?? []) {
      if (!inPackage(declaration.getSourceFile().fileName) || isInternal(declaration)) continue;
      // A variable's declaration node is inside its statement: walk the statement's JSDoc-free parts only.
      walk(symbol, declaration);
    }
  }
  return [...problems.values()].sort((a, b) => a.name.localeCompare(b.name));
}

function main(): void {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const entries = process.argv.slice(2);
  const entryFiles = entries.length > 0 ? entries : ['dist/src/index.d.ts', 'dist/machines/index.d.ts', 'dist/src/dashboard/index.d.ts'];
  const problems = findUnexportedTypes(entryFiles, root);
  if (problems.length === 0) {
    console.log(`exports-check: every type named by a public signature of ${entryFiles.join(', ')} is exported`);
    return;
  }
  console.error(`exports-check: ${problems.length} type(s) named by public signatures are not exported:`);
  for (const p of problems) console.error(`  ${p.name} (${p.declaredIn}), named by ${p.referencedBy}`);
  process.exitCode = 1;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
