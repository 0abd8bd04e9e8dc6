/**
 * The statecharts, pure and free of I/O: the connection, pool and manager machines, with the
 * types of their context, events and input. Paste any of them into the Stately editor, or run
 * one alone (`createActor(poolMachine, { input }).start()`); the runtime provides their effects
 * with `machine.provide()`. The pure functions the machines' guards call (pool.decisions.ts)
 * stay inside the package: the public surface is what the docs describe.
 *
 * @module connection-manager-kit/machines
 */
export {
  connectionMachine,
  AttemptTimeoutError,
  CreateAbandonedError,
  ValidationTimeoutError,
  type CloseReason,
  type ConnectionContext,
  type ConnectionEvent,
  type ConnectionInput,
  type ConnectionMachine,
  type ConnectionReport,
} from './connection.machine.js';
export {
  poolMachine,
  type ClosedReport,
  type PoolContext,
  type PoolEvent,
  type PoolInput,
  type PoolMachine,
  type PoolReport,
} from './pool.machine.js';
export type { BreakerConfig, DemandFacts, PoolConfig } from './pool.decisions.js';
export {
  managerMachine,
  type CacheConfig,
  type ManagerContext,
  type ManagerEvent,
  type ManagerInput,
  type ManagerMachine,
} from './manager.machine.js';
