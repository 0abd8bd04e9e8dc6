/**
 * `npm start`: the library's story in about 20 s, on an embedded echo server on 127.0.0.1 (a
 * port the OS chose), printed as it happens with the actors' state names: warm-up, a burst served
 * by returns, a server crash (errors, the breaker opening, probes, backoff), recovery, a resize,
 * the graceful shutdown. Exits by itself.
 *
 *   npm start                    the story, once
 *   npm start -- --dashboard     the same story, slower and in a loop, watched in the local
 *                                dashboard (the URL is printed); Ctrl-C to stop
 *   npm start -- --inspect       also relay every actor to the Stately inspector (docs/inspector.md)
 *
 * CMK_DEMO_PACE=0.2 runs it five times faster (test/demo.test.ts).
 */
import { ConnectionManager, startInspectorRelay, type ConnectionManagerOptions } from './index.js';
import { startDashboard } from './dashboard/index.js';
import { startDemoServer } from './demo/echo-server.js';
import { act, narrate, say } from './demo/narrator.js';
import { demoPool, storyMiddle, warmUp } from './demo/story.js';

const dashboardMode = process.argv.includes('--dashboard');
const inspectMode = process.argv.includes('--inspect');

async function inspection(): Promise<{ options: ConnectionManagerOptions; stop(): Promise<void> }> {
  if (!inspectMode) return { options: {}, stop: async () => {} };
  // Loopback only, on a free port; a busy or forbidden port is an InspectorRelayError.
  const relay = await startInspectorRelay();
  say(`inspector relay on ${relay.url} (open it in a browser; the UI loads from stately.ai)`);
  return { options: { inspect: relay.inspector.inspect }, stop: () => relay.close() };
}

async function main(): Promise<void> {
  const server = await startDemoServer(150);
  say(`echo server on 127.0.0.1:${server.port} (it answers a new connection's handshake after 150 ms)`);
  const inspect = await inspection();
  const manager = new ConnectionManager(inspect.options);
  const dashboard = dashboardMode ? await startDashboard(manager) : undefined;
  if (dashboard !== undefined) say(`dashboard: ${dashboard.url}  (open it in a browser; Ctrl-C to stop)`);
  const stopNarrating = narrate(manager, { connections: true });
  // CMK_DEMO_PACE stretches or shrinks the pauses (the demo's own test runs it fast).
  const pace = (dashboardMode ? 5 : 2.5) * Number(process.env.CMK_DEMO_PACE ?? 1);

  let stopping = false;
  const shutdown = async () => {
    act('6. Graceful shutdown: waiting callers are refused, idle connections close, the actors stop');
    await manager.gracefulShutdown({ timeout: 2000 });
    stopNarrating();
    await dashboard?.close();
    await inspect.stop();
    await server.close();
    say('done: no timer, socket or listener left; the process exits by itself');
  };
  if (dashboardMode) {
    process.once('SIGINT', () => {
      stopping = true;
    });
  }

  const pool = demoPool(manager, server);
  await warmUp(pool);
  do {
    await storyMiddle(manager, pool, server, { pace });
  } while (dashboardMode && !stopping);
  await shutdown();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
