/**
 * `connect()` and `connectParallel()`: validate everything before a socket opens, register each
 * server under its cacheKey (so its pool needs no factory), and open one supervised link per
 * server. The links' lifecycles (attempts, backoff, reconnection) are the connection machine's.
 * Subtlety: from validation on, the library holds each server as a `PrivateServer` (its TLS
 * options out of sight), and outcomes and errors show its `ServerInfo`, never the user's object.
 */
import { ConnectionError, ShutdownError, type ConnectOutcome } from './errors.js';
import { DEFAULT_CONNECT_TIMEOUT, readRetryPolicy, RetryStrategy } from './retry.js';
import type { ManagerRuntime } from './runtime.js';
import { checkDuration, TimeAmount, type Duration } from './time.js';
import type { Connection } from './transport/connection.js';
import { checkCount, readOptions } from './options.js';
import { LINK_STABILITY_WINDOW, type LinkPolicy } from './links.js';
import { PrivateServer, type ServerInfo } from './transport/server-info.js';
import { validateServers, type ServerLocation } from './transport/server.js';

export interface ConnectOptions {
  /** How failed attempts are retried. Default: exponential from 1 s, doubling to 30 s, ±10 % jitter. */
  retryStrategy?: RetryStrategy;
  /** Attempts per connection and per reconnection, the first included. Default 6. */
  maxReconnectionAttempts?: number;
  /** Bound on each attempt, TCP connect and TLS handshake included. Default 10 s. */
  timeout?: Duration;
  /**
   * A connection that drops sooner than this after connecting did not really connect (a server
   * that accepts and closes at once): the drop counts as its attempt failing, and it backs off
   * per the strategy instead of reconnecting at once with a fresh budget. Default 1 s.
   */
  stabilityWindow?: Duration;
}

export interface ParallelConnectOptions extends ConnectOptions {
  /** Servers connecting at the same time, at most. Default 4. */
  maxConcurrentConnections?: number;
}

/** One server's result: `server` is its {@link ServerInfo} (what it is, never its secrets). */
export type ServerOutcome = ConnectOutcome<Connection, ServerInfo>;

/** The default strategy of connect(): the seed's `.exponential(initialDelay: .seconds(1))`. */
export const DEFAULT_CONNECT_STRATEGY = RetryStrategy.exponential({ initialDelay: TimeAmount.seconds(1) });

const CONNECT_FIELDS = new Set(['retryStrategy', 'maxReconnectionAttempts', 'timeout', 'stabilityWindow']);
const PARALLEL_FIELDS = new Set([...CONNECT_FIELDS, 'maxConcurrentConnections']);

/**
 * Validates connect()'s options (before any socket opens) into the links' retry policy. Each
 * field is read once (readOptions): an array, an unknown field or a throwing getter is a
 * ConfigurationError naming it.
 */
export function connectPolicy(options: unknown): LinkPolicy {
  return policyOf(readOptions(options ?? {}, 'options', CONNECT_FIELDS, 'connect options'));
}

function policyOf(o: Record<string, unknown>): LinkPolicy {
  const retry = readRetryPolicy(o, 'options', { strategy: DEFAULT_CONNECT_STRATEGY, attemptTimeout: DEFAULT_CONNECT_TIMEOUT });
  const stabilityWindow = checkDuration('options.stabilityWindow', o.stabilityWindow ?? LINK_STABILITY_WINDOW);
  return { ...retry, stabilityWindow };
}

/** Validates the servers and takes the library's private copies of them. */
function checked(runtime: ManagerRuntime, servers: readonly ServerLocation[]): PrivateServer[] {
  validateServers(servers, 'servers');
  if (!runtime.accepting()) throw new ShutdownError();
  return servers.map((server) => new PrivateServer(server));
}

const describeServer = (s: ServerInfo) => `${s.cacheKey} (${s.host}:${s.port})`;

/** Connects each server in turn; resolves with their connections, or rejects with a ConnectionError. */
export async function connectInOrder(
  runtime: ManagerRuntime,
  servers: readonly ServerLocation[],
  options: ConnectOptions | undefined,
): Promise<Connection[]> {
  const policy = connectPolicy(options);
  const privateServers = checked(runtime, servers);
  const release = runtime.keepAlive.hold();
  try {
    const outcomes: ServerOutcome[] = [];
    for (const server of privateServers) {
      runtime.registerServer(server, policy);
      outcomes.push(await outcome(runtime, server, policy));
    }
    const connections = outcomes.flatMap((o) => (o.status === 'connected' ? [o.connection] : []));
    if (connections.length < outcomes.length) throw new ConnectionError(outcomes, describeServer);
    return connections;
  } finally {
    release();
  }
}

/**
 * Connects all servers, at most `maxConcurrentConnections` at once; resolves with one outcome
 * per server, in input order. One server's failure never cancels another's attempts.
 */
export async function connectConcurrently(
  runtime: ManagerRuntime,
  servers: readonly ServerLocation[],
  options: ParallelConnectOptions | undefined,
): Promise<ServerOutcome[]> {
  const o = readOptions(options ?? {}, 'options', PARALLEL_FIELDS, 'connect options');
  const policy = policyOf(o);
  const limit = checkCount('options.maxConcurrentConnections', o.maxConcurrentConnections ?? 4, 1);
  const privateServers = checked(runtime, servers);
  for (const server of privateServers) runtime.registerServer(server, policy);
  const release = runtime.keepAlive.hold();
  try {
    const outcomes: ServerOutcome[] = new Array(privateServers.length);
    let next = 0;
    const worker = async () => {
      while (next < privateServers.length) {
        const i = next++;
        outcomes[i] = await outcome(runtime, privateServers[i] as PrivateServer, policy);
      }
    };
    await Promise.all(Array.from({ length: Math.min(limit, privateServers.length) }, worker));
    return outcomes;
  } finally {
    release();
  }
}

async function outcome(runtime: ManagerRuntime, server: PrivateServer, policy: LinkPolicy): Promise<ServerOutcome> {
  try {
    return { server: server.info, status: 'connected', connection: await runtime.links.open(server, policy) };
  } catch (error) {
    return { server: server.info, status: 'failed', error };
  }
}
