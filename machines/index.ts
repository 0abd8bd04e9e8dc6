/**
 * The statecharts, pure and free of I/O: the connection, pool and manager machines, with the
 * types of their context, events and input. Paste any of them into the Stately editor; the
 * runtime provides their effects with `machine.provide()`. The helpers the machines' guards
 * call stay inside the package: the public surface is what the docs describe.
 *
 * @module connection-manager-kit/machines
 */
export {
  connectionMachine,
  AttemptTimeoutError,
  CreateAbandonedError,
  type CloseReason,
  type ConnectionContext,
  type ConnectionEvent,
  type ConnectionInput,
  type ConnectionMachine,
  type ConnectionRef,
  type ConnectionReport,
} from './connection.machine.js';
export {
  poolMachine,
  type DemandFacts,
  type PoolConfig,
  type PoolContext,
  type PoolEvent,
  type PoolInput,
  type PoolMachine,
  type PoolReport,
} from './pool.machine.js';
export {
  managerMachine,
  type CacheConfig,
  type LinkInput,
  type ManagerContext,
  type ManagerEvent,
  type ManagerInput,
  type ManagerMachine,
} from './manager.machine.js';
