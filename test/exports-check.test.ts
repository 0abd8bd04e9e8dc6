/**
 * The CI check that every type named by a public signature is exported (.ci/exports-check.ts),
 * run on small declaration files written for the test: it must catch a hidden type reached
 * directly, through another hidden type, through `extends`, `typeof` and `import()` types, and
 * leave alone what is exported, what is `@internal`, and what comes from dependencies.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { findUnexportedTypes } from '../.ci/exports-check.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function fixture(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'exports-check-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

test('reports hidden types reached from the entry points, transitively, and nothing else', () => {
  const dir = fixture({
    'package.json': '{ "type": "module" }',
    'index.d.ts': [
      "export { open, type Options } from './impl.js';",
      "export { Widget } from './widget.js';",
      "export type { Shown } from './impl.js';",
    ].join('\n'),
    'impl.d.ts': [
      'export interface Shown { a: number }',
      'export interface Hidden { inner: Deeper }',
      'export interface Deeper { n: number }',
      'export type Phase = "a" | "b";',
      'export interface Options { hidden?: Hidden; shown?: Shown; map?: Map<string, Shown> }',
      'export declare function open(options: Options): import("./impl.js").Phase;',
      'export interface OnlyInternal { x: number }',
    ].join('\n'),
    'widget.d.ts': [
      "import type { OnlyInternal } from './impl.js';",
      'declare class Base { base: number }',
      'declare const defaults: { size: number };',
      'export declare class Widget extends Base {',
      '  /** @internal */',
      '  constructor(secret: OnlyInternal);',
      '  private state;',
      '  size: typeof defaults;',
      '}',
    ].join('\n'),
  });
  const problems = findUnexportedTypes(['index.d.ts'], dir);
  expect(problems.map((p) => `${p.name} <- ${p.referencedBy}`)).toEqual([
    'Base <- Widget',
    'Deeper <- Hidden',
    'defaults <- Widget',
    'Hidden <- Options',
    'Phase <- open',
  ]);
  expect(problems.find((p) => p.name === 'Hidden')?.declaredIn).toBe('impl.d.ts');
});

test('a package that exports everything it names passes', () => {
  const dir = fixture({
    'package.json': '{ "type": "module" }',
    'index.d.ts': "export interface A { b: B }\nexport interface B { when: Date; list: ReadonlyArray<A> }\n",
  });
  expect(findUnexportedTypes(['index.d.ts'], dir)).toEqual([]);
});
