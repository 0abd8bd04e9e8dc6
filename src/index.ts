/**
 * ConnectionManagerKit for TypeScript: connection pools, whose every connection and keyed
 * pool is an XState v5 statechart actor. Every type a public signature names is exported
 * here or from `connection-manager-kit/machines` (checked in CI by .ci/exports-check.ts).
 *
 * @module connection-manager-kit
 */
export { ConnectionManager, type ConnectionManagerOptions, type ShutdownOptions } from './manager.js';
export type { InspectOption } from './runtime.js';
export { ConnectionCache, type AcquireOptions } from './connection-cache.js';
export {
  ConnectionPoolConfiguration,
  defaultCacheConfiguration,
  defaultPoolSettings,
  DEFAULT_CREATE_TIMEOUT,
  MAX_COUNT,
  type BreakerSettings,
  type BrokenPredicate,
  type CacheConfiguration,
  type CacheMetrics,
  type DestroyFunction,
  type PoolOptions,
  type PoolSettings,
  type ValidateFunction,
} from './config.js';
export { Pool, Lease, connectionBroke, type LeaseOptions, type ServerPool } from './pool-handle.js';
export { TimeAmount, type Duration } from './time.js';
export {
  AbortError,
  AcquireTimeoutError,
  PoolFullError,
  ConfigurationError,
  ConnectionError,
  ConnectionManagerError,
  InvalidConnectionError,
  InvalidReturnError,
  ShutdownError,
  type ConnectOutcome,
} from './errors.js';
export type {
  ConnectionEventBase,
  ConnectionEventName,
  ManagerEmitter,
  ManagerEventName,
  ManagerEvents,
  NetworkEventDelegate,
  OnceOptions,
} from './events.js';
export { CHANNEL_PREFIX, channelName, type ChannelMessage, type ChannelName } from './observability/channels.js';
export {
  CONNECTION_STATE_ATTRIBUTE,
  instrumentManager,
  METER_NAME,
  POOL_METRICS,
  POOL_NAME_ATTRIBUTE,
  TIME_BUCKETS_SECONDS,
  type InstrumentManagerOptions,
  type ManagerInstrumentation,
} from './observability/metrics.js';
export type {
  BatchObservableCallbackLike,
  BatchObservableResultLike,
  CounterLike,
  HistogramLike,
  InstrumentOptionsLike,
  MeterLike,
  MeterProviderLike,
  MetricAttributesLike,
  ObservableLike,
} from './observability/otel-types.js';
export type { ConnectionFactory } from './pool/keyed-pool.js';
export type { PoolStats } from './pool/pool-stats.js';
export { DEFAULT_CONNECT_STRATEGY, type ConnectOptions, type ParallelConnectOptions, type ServerOutcome } from './connect.js';
export {
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_MAX_RECONNECTION_ATTEMPTS,
  MAX_RETRY_DELAY,
  RetryStrategy,
  RetryStrategyError,
  type CustomRetryFunction,
  type ExponentialRetryOptions,
  type JitterMode,
  type RetryClassification,
  type RetryDecision,
  type RetryStopReason,
  type RetryStrategyFactories,
} from './retry.js';
export {
  Connection,
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_READ_BUFFER_LIMIT,
  type ConnectionCloseEvent,
  type ConnectionDisconnectedEvent,
  type ConnectionEvents,
  type ConnectionOptions,
  type ConnectionReconnectedEvent,
  type ConnectionState,
  type ConnectionSummary,
  type SocketDetails,
  type PeerCertificateInfo,
  type TlsDetails,
} from './transport/connection.js';
export {
  CONNECT_FAILED,
  ConnectAttemptError,
  ConnectionClosedError,
  ConnectTimeoutError,
  NetworkError,
  NOT_CONNECTED,
  CONNECTION_CLOSED,
  isPermanentError,
  type ConnectionClosedCode,
  type ConnectPhase,
  type NetworkErrorCategory,
} from './transport/errors.js';
export type { ServerLocation, TlsConnectOptions } from './transport/server.js';
export type { ServerInfo } from './transport/server-info.js';
export { AttemptTimeoutError, CreateAbandonedError, ValidationTimeoutError } from '../machines/connection.machine.js';
export { systemClock, type Clock } from './clock.js';
export {
  InspectorRelayError,
  startInspectorRelay,
  type InspectorRelay,
  type InspectorRelayOptions,
  type RelayInspector,
  type RelayedSnapshot,
} from './inspector/relay.js';
export type { CloseReason } from '../machines/connection.machine.js';
