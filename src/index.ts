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
  ConnectionManagerError,
  InvalidConnectionError,
  InvalidReturnError,
  ShutdownError,
} from './errors.js';
export type { ManagerEmitter, ManagerEventName, ManagerEvents } from './events.js';
export type { ConnectionFactory, PoolStats } from './pool/keyed-pool.js';
export { systemClock, type Clock } from './clock.js';
export type { CloseReason } from '../machines/connection.machine.js';
