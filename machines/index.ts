/**
 * The statecharts, pure and free of I/O. Paste any of them into the Stately editor, or run one
 * alone (`createActor(poolMachine, { input }).start()`); the runtime in `src/` provides their
 * effects with `machine.provide()`. Their decisions live in pool.decisions.ts (not exported:
 * internal to the library, documented in docs/architecture.md).
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
