/**
 * Docs that cannot rot: every ```ts block of README.md and docs/*.md type-checks under the
 * repository's strict settings against the package's source, and every block not marked
 * `<!-- check -->` runs as a program and exits by itself with code 0. The convention is in
 * test/docs/examples.ts and README.md ("Code examples in the docs"). Runs apart from the main
 * suite (vitest.docs.config.ts, `npm run test:docs`).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { collectExamples, exampleFileName, exampleSource, extractExamples, sourceLine, type Example } from './docs/examples.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const outDir = path.join(root, '.docs-examples');
const docs = ['README.md', ...readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const examples = collectExamples(root, docs);
/** Per run; generous, since CI machines are shared. Each example takes well under a second alone. */
const RUN_TIMEOUT_MS = 20_000;

beforeAll(() => {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  writeFileSync(
    path.join(outDir, 'tsconfig.json'),
    JSON.stringify(
      {
        extends: '../tsconfig.json',
        compilerOptions: {
          noEmit: true,
          rootDir: '..',
          // What a user imports, mapped to the source (no build needed).
          paths: {
            'connection-manager-kit': ['../src/index.ts'],
            'connection-manager-kit/machines': ['../machines/index.ts'],
            'connection-manager-kit/dashboard': ['../src/dashboard/index.ts'],
          },
        },
        include: ['*.ts'],
      },
      null,
      2,
    ),
  );
  for (const example of examples) writeFileSync(path.join(outDir, exampleFileName(example)), exampleSource(example).text);
});

afterAll(() => {
  rmSync(outDir, { recursive: true, force: true });
});

test('README.md and docs/*.md have code examples, and some of them run', () => {
  expect(examples.length).toBeGreaterThan(20);
  expect(examples.filter((e) => e.mode === 'run').length).toBeGreaterThan(5);
});

test('every example type-checks under strict tsc', () => {
  const config = ts.getParsedCommandLineOfConfigFile(path.join(outDir, 'tsconfig.json'), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    },
  });
  if (config === undefined) throw new Error('no tsconfig');
  const program = ts.createProgram({ rootNames: config.fileNames, options: config.options });
  const byFile = new Map(examples.map((e) => [path.join(outDir, exampleFileName(e)), e]));
  const problems = ts.getPreEmitDiagnostics(program).map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (d.file === undefined) return message;
    const { line } = d.file.getLineAndCharacterOfPosition(d.start ?? 0);
    const example = byFile.get(path.resolve(d.file.fileName));
    const where = example === undefined ? `${d.file.fileName}:${line + 1}` : sourceLine(example, line + 1);
    return `${where}: ${message}`;
  });
  expect(problems).toEqual([]);
}, 120_000);

describe('runnable examples exit by themselves with code 0', () => {
  for (const example of examples.filter((e) => e.mode === 'run')) {
    test(`${example.doc}:${example.line}`, async () => {
      const result = await run(example);
      expect({ code: result.code, signal: result.signal, output: result.code === 0 ? '' : result.output }).toEqual({
        code: 0,
        signal: null,
        output: '',
      });
    }, RUN_TIMEOUT_MS + 10_000);
  }
});

test('markers: a comment before a block marks a fragment and holds its prelude; a stray comment is an error', () => {
  const md = [
    '```ts',
    'console.log(1);',
    '```',
    '<!-- check',
    "import { ConnectionManager } from 'connection-manager-kit';",
    'declare const manager: ConnectionManager;',
    '-->',
    '```ts',
    'manager.connectionCache.keys();',
    '```',
    '<!-- check -->',
    '```typescript',
    'let x = 1;',
    '```',
  ].join('\n');
  const found = extractExamples('x.md', md);
  expect(found.map((e) => [e.line, e.mode, e.prelude.split('\n').length, e.code])).toEqual([
    [2, 'run', 1, 'console.log(1);'],
    [9, 'check', 2, 'manager.connectionCache.keys();'],
    [13, 'check', 1, 'let x = 1;'],
  ]);
  expect(sourceLine(found[1]!, 4)).toBe('x.md:9');
  expect(() => extractExamples('y.md', '<!-- chek -->\n```ts\nx\n```')).toThrow(/y\.md:2/);
});

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/**
 * Runs one example with tsx (honouring the paths mapping). tsx starts the program in a child
 * process (and esbuild in another): the example runs in its own process group, and the whole
 * group is killed at the timeout, so nothing it started outlives the test.
 */
function run(example: Example): Promise<RunResult> {
  const tsx = path.join(root, 'node_modules', '.bin', 'tsx');
  const child = spawn(tsx, ['--tsconfig', path.join(outDir, 'tsconfig.json'), path.join(outDir, exampleFileName(example))], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '' },
    detached: true,
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const killGroup = () => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // the group is gone already
    }
  };
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      output += `\n[killed: still running after ${RUN_TIMEOUT_MS} ms; an example must exit by itself]`;
      killGroup();
    }, RUN_TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      // Whatever the example left behind in its group (it exited, so this is only a safety net).
      killGroup();
      resolve({ code, signal, output: output.slice(-4000) });
    });
  });
}
