/**
 * The statecharts, pure and free of I/O. Paste any of them into the Stately editor;
 * the runtime in `src/` provides their effects with `machine.provide()`.
 */
export * from './connection.machine.js';
export * from './pool.machine.js';
export * from './manager.machine.js';
