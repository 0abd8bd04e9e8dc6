import { createRequire } from 'node:module';
import { Pool } from 'tarn';
import { abortReason, onAbort } from './signal-groups.js';
import type { BenchPool, Contender, PoolConfig } from './types.js';

const require = createRequire(import.meta.url);
const { version } = require('tarn/package.json') as { version: string };

/** tarn's reaper default; tarn cannot turn idle reaping off. */
const TARN_DEFAULT_IDLE_MS = 30_000;

export const tarnContender: Contender = {
  name: 'tarn',
  version,
  notes:
    'new Pool({ min, max, acquireTimeoutMillis, idleTimeoutMillis (30 s default unless set), propagateCreateError per scenario }); retire = mark + release, validate() refuses it on the next acquire; cancel = pending.abort() from one abort listener per signal',
  create<R extends object>(config: PoolConfig<R>): BenchPool<R> {
    // tarn 3.1 has no public API to destroy one borrowed resource. The documented way is a
    // validate() that fails: the resource goes back to the free list and is destroyed by the
    // next acquire that picks it (tarn then waits a setTimeout(0) before creating a replacement).
    // validate runs on every acquire, so it is installed only when the scenario retires resources.
    // A Set emptied by destroy (at most `max` entries), not a WeakSet: a WeakSet's table keeps
    // the size its peak of dead keys gave it and would show up as heap growth in the churn run.
    const retired = new Set<R>();
    const pool = new Pool<R>({
      create: () => config.create(),
      destroy: (resource: R) => {
        retired.delete(resource);
        return config.destroy(resource);
      },
      min: config.min,
      max: config.max,
      acquireTimeoutMillis: config.acquireTimeoutMs,
      idleTimeoutMillis: config.idleTimeoutMs ?? TARN_DEFAULT_IDLE_MS,
      // tarn's own default is false (create errors are retried every 200 ms until the acquire
      // times out); knex, tarn's main user, sets true (the first waiting acquire is rejected
      // with the create error). Scenarios that want fast failure (outage) say so, as a user
      // who wants errors to surface would configure it; elsewhere create never fails.
      propagateCreateError: config.failFastOnCreateError === true,
      ...(config.retirable === true ? { validate: (resource: R) => !retired.has(resource) } : {}),
    });
    return {
      acquire: () => pool.acquire().promise,
      // tarn cancels through the pending operation (`abort()`), not a signal: one listener per
      // signal aborts every acquire pending on it (signal-groups.ts).
      acquireWithSignal: (signal) => {
        if (signal.aborted) return Promise.reject(abortReason(signal));
        const pending = pool.acquire();
        const off = onAbort(signal, () => pending.abort());
        return pending.promise.then(
          (resource) => {
            off();
            return resource;
          },
          (err: unknown) => {
            off();
            throw err;
          },
        );
      },
      release: (resource) => {
        pool.release(resource);
      },
      retire: (resource) => {
        if (config.retirable !== true) throw new Error('tarn adapter: retire() needs config.retirable');
        retired.add(resource);
        pool.release(resource);
      },
      stats: () => ({
        total: pool.numUsed() + pool.numFree(),
        idle: pool.numFree(),
        inUse: pool.numUsed(),
        waiting: pool.numPendingAcquires(),
        creating: pool.numPendingCreates(),
      }),
      close: async () => {
        await pool.destroy();
      },
    };
  },
};
