import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

/** Monotonic milliseconds (sub-millisecond resolution). */
export const now = (): number => performance.now();

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Lets pending promise jobs, I/O callbacks and immediates run. */
export const settle = async (turns = 3): Promise<void> => {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

/** Progress goes to stderr; stdout carries only the final tables. */
export const log = (msg: string): void => {
  process.stderr.write(`${msg}\n`);
};

/** Round r runs the contenders rotated by r: A B C D, then B C D A, ... */
export function rotate<T>(items: readonly T[], round: number): T[] {
  if (items.length === 0) return [];
  const k = round % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message.split('\n')[0] ?? err.name;
  return String(err);
}

/** Path of a file in bench/ given its name relative to bench/lib/. */
export function benchFile(relativeToLib: string): string {
  return fileURLToPath(new URL(relativeToLib, import.meta.url));
}

/**
 * Forks a TypeScript file of bench/ in a fresh Node process that runs it through tsx's loader
 * (`node --import tsx file.ts`), with an IPC channel. Node's own flags go in `nodeFlags`
 * (e.g. --expose-gc). The parent's execArgv (tsx's CLI flags) is deliberately not inherited.
 */
export function forkTs(file: string, args: readonly string[], nodeFlags: readonly string[] = []): ChildProcess {
  const tsxLoader = import.meta.resolve('tsx');
  return fork(file, [...args], {
    execArgv: [...nodeFlags, '--import', tsxLoader],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}
