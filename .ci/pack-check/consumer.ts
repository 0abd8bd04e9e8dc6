/**
 * A user's program, compiled against the installed tarball (not the repository): what
 * `.ci/pack-check.sh` type-checks under `nodenext` and `bundler` resolution and then runs.
 * It names the types a user meets in signatures, imports both entry points, and talks to a
 * local echo server through a pool; it must exit by itself.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import {
  channelName,
  ConnectionManager,
  instrumentManager,
  RetryStrategy,
  TimeAmount,
  type ConnectionClosedCode,
  type ConnectionOptions,
  type ConnectPhase,
  type InspectOption,
  type InspectorRelay,
  type ManagerEvents,
  type NetworkErrorCategory,
  type RetryDecision,
} from 'connection-manager-kit';
import { connectionMachine, poolMachine, type ConnectionContext, type PoolContext } from 'connection-manager-kit/machines';

// Types a user can now name (they appear in public signatures).
const inspect: InspectOption = () => {};
// The relay's inspector plugs into the manager; its declarations must compile without the DOM lib.
const relayInspect = (relay: InspectorRelay): InspectOption => relay.inspector.inspect;
const phase: ConnectPhase = 'tcp';
const code: ConnectionClosedCode = 'ERR_CONNECTION_CLOSED';
const category: NetworkErrorCategory | undefined = undefined;
const options: ConnectionOptions = {};
const decision: RetryDecision = RetryStrategy.fixed(TimeAmount.milliseconds(10)).decide(1, 3, new Error('x'));
const context: Partial<ConnectionContext & PoolContext> = {};
void [phase, code, category, options, context, relayInspect];
assert.equal(typeof connectionMachine.id, 'string');
assert.equal(typeof poolMachine.id, 'string');
assert.deepEqual(decision, { retry: true, delay: 10 });

const server = net.createServer((peer) => peer.pipe(peer)).listen(0, '127.0.0.1');
await once(server, 'listening');
const { port } = server.address() as net.AddressInfo;

const manager = new ConnectionManager({ inspect });
// @opentelemetry/api is an optional peer dependency, not installed here: a no-op handle.
const instrumentation = instrumentManager(manager);
assert.equal(instrumentation.enabled, false);
assert.equal(channelName('pool:acquired'), 'connection-manager-kit:pool:acquired');

const created = manager.events.once('pool:created');
const socket = await manager.connectionCache.acquireConnection('echo', { maxConnections: 2 }, async () => {
  const s = net.connect(port, '127.0.0.1');
  await once(s, 'connect');
  return s;
});
assert.ok(socket !== null);
const event: ManagerEvents['pool:created'] = await created;
assert.equal(event.config.maxConnections, 2);
socket.write('ping');
const [reply] = (await once(socket, 'data')) as [Buffer];
assert.equal(reply.toString(), 'ping');
manager.connectionCache.returnConnection('echo', socket);
await manager.gracefulShutdown();
server.close();
instrumentation.stop();
console.log('consumer (ESM import): ok');
