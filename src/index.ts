/**
 * ConnectionManagerKit for TypeScript: connection pools, whose every connection and keyed
 * pool is an XState v5 statechart actor.
 */
export { ConnectionManager, type ConnectionManagerOptions, type ShutdownOptions } from './manager.js';
export { ConnectionCache, type AcquireOptions } from './connection-cache.js';
export {
  ConnectionPoolConfiguration,
  defaultCacheConfiguration,
  type CacheConfiguration,
  type CacheMetrics,
  type DestroyFunction,
  type PoolOptions,
  type PoolSettings,
} from './config.js';
export { TimeAmount, type Duration } from './time.js';
export {
  AbortError,
  ConfigurationError,
  ConnectionError,
  ConnectionManagerError,
  InvalidConnectionError,
  InvalidReturnError,
  ShutdownError,
  type ConnectOutcome,
} from './errors.js';
export type { ManagerEmitter, ManagerEventName, ManagerEvents, NetworkEventDelegate } from './events.js';
export type { ConnectionFactory, PoolStats } from './pool/keyed-pool.js';
export { DEFAULT_CONNECT_STRATEGY, type ConnectOptions, type ParallelConnectOptions, type ServerOutcome } from './connect.js';
export {
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_MAX_RECONNECTION_ATTEMPTS,
  RetryStrategy,
  RetryStrategyError,
  type CustomRetryFunction,
  type ExponentialRetryOptions,
  type JitterMode,
  type RetryClassification,
  type RetryDecision,
  type RetryStopReason,
} from './retry.js';
export {
  Connection,
  type ConnectionCloseEvent,
  type ConnectionDisconnectedEvent,
  type ConnectionEvents,
  type ConnectionReconnectedEvent,
  type ConnectionState,
  type ConnectionSummary,
  type PeerCertificateInfo,
  type TlsDetails,
} from './transport/connection.js';
export {
  ConnectAttemptError,
  ConnectionClosedError,
  ConnectTimeoutError,
  NetworkError,
  NOT_CONNECTED,
  CONNECTION_CLOSED,
  isPermanentError,
  type NetworkErrorCategory,
} from './transport/errors.js';
export type { ServerLocation, TlsConnectOptions } from './transport/server.js';
export type { ServerInfo } from './transport/server-info.js';
export { AttemptTimeoutError } from '../machines/connection.machine.js';
export { systemClock, type Clock } from './clock.js';
export {
  InspectorRelayError,
  startInspectorRelay,
  type InspectorRelay,
  type InspectorRelayOptions,
  type RelayInspector,
} from './inspector/relay.js';
export type { CloseReason } from '../machines/connection.machine.js';
