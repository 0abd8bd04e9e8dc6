import type { ChildProcess } from 'node:child_process';
import { benchFile, forkTs } from './util.js';

export type ServerCommand = { cmd: 'down' } | { cmd: 'up' } | { cmd: 'exit' };
export type ServerEvent = { ev: 'up'; port: number } | { ev: 'down' } | { ev: 'error'; message: string };

/** Parent-side handle on bench/echo-server.ts running in a child process. */
export class EchoServerProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {}

  static async start(): Promise<EchoServerProcess> {
    const child = forkTs(benchFile('../echo-server.ts'), []);
    const event = await new Promise<ServerEvent>((resolve, reject) => {
      const onExit = (code: number | null): void => reject(new Error(`echo server exited early (code ${code})`));
      child.once('exit', onExit);
      child.once('error', reject);
      child.once('message', (msg) => {
        child.off('exit', onExit);
        child.off('error', reject);
        resolve(msg as ServerEvent);
      });
    });
    if (event.ev !== 'up') throw new Error(`echo server failed to start: ${JSON.stringify(event)}`);
    return new EchoServerProcess(child, event.port);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Stops listening and drops every connection; resolves once the server has done so. */
  down(): Promise<void> {
    return this.request({ cmd: 'down' }, 'down').then(() => undefined);
  }

  /** Listens again on the same port; resolves once it does. */
  up(): Promise<void> {
    return this.request({ cmd: 'up' }, 'up').then(() => undefined);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    if (this.child.connected) this.child.send({ cmd: 'exit' } satisfies ServerCommand);
    const timer = setTimeout(() => this.child.kill(), 3000);
    await exited;
    clearTimeout(timer);
  }

  private request(command: ServerCommand, expect: ServerEvent['ev']): Promise<ServerEvent> {
    return new Promise((resolve, reject) => {
      this.child.once('message', (msg) => {
        const event = msg as ServerEvent;
        if (event.ev === expect) resolve(event);
        else reject(new Error(`echo server: expected ${expect}, got ${JSON.stringify(event)}`));
      });
      this.child.send(command);
    });
  }
}
