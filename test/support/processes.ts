/**
 * Runs a test fixture in a child Node process (with tsx), to see how a real process behaves:
 * whether it exits by itself, and what it prints. A child still alive after `killAfterMs` is
 * killed, so a fixture that hangs fails its test instead of hanging the suite.
 */
import { spawn } from 'node:child_process';

export interface FixtureRun {
  /** The exit code; null if the child was killed. */
  code: number | null;
  /** From the spawn to the exit. */
  ms: number;
  /** What it printed on stdout (stderr goes to the test's). */
  out: string;
}

export function runFixture(fixture: string, args: readonly string[], killAfterMs = 15_000): Promise<FixtureRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, ms: performance.now() - started, out });
    });
  });
}
