/**
 * `npm start` keeps its promise: the story runs on its embedded server, prints the actors'
 * states through every act, and exits by itself; `--dashboard` serves the page until Ctrl-C.
 * (Run faster than a reader would watch it: CMK_DEMO_PACE.)
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { describe, expect, test } from 'vitest';

const tsx = createRequire(import.meta.url).resolve('tsx/cli');

function runDemo(args: string[]) {
  const child = spawn(process.execPath, [tsx, 'src/demo.ts', ...args], {
    env: { ...process.env, CMK_DEMO_PACE: '0.2' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, output: () => out };
}

describe('npm start', () => {
  test('tells the story with the actors\' state names and exits by itself', async () => {
    const demo = runDemo([]);
    expect(await demo.exited).toBe(0);
    const out = demo.output();
    for (const act of ['1. Warm-up', '2. A burst', '3. The server crashes', '4. The server is back', '5. Resize', '6. Graceful shutdown']) {
      expect(out).toContain(act);
    }
    for (const state of ['open.idle', 'open.inUse', 'running.creates.coolingDown', 'running.creates.probing', 'running.creates.recovering', 'draining', 'stopped']) {
      expect(out).toContain(state);
    }
    expect(out).toContain('ECONNREFUSED');
    expect(out).toMatch(/connections created during the burst: \d+/);
    expect(out).toContain('done: no timer, socket or listener left');
  }, 60_000);

  test('--dashboard prints the page URL, serves it, and stops on Ctrl-C', async () => {
    const demo = runDemo(['--dashboard']);
    let url: string | undefined;
    while (url === undefined && demo.child.exitCode === null) {
      url = /dashboard: (http:\/\/127\.0\.0\.1:\d+\/\S+)/.exec(demo.output())?.[1];
      if (url === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(url).toBeDefined();
    const page = await fetch(url as string);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<html');
    demo.child.kill('SIGINT');
    expect(await demo.exited).toBe(0);
    expect(demo.output()).toContain('done: no timer, socket or listener left');
  }, 90_000);
});
