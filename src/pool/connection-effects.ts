/**
 * The effects of a pooled connection's actor: run the factory (`startCreate`), destroy the
 * resource (`startDestroy`), validate it on borrow (`startValidation`), and watch it for the
 * events that mean it died. Each result goes back to the actor as an event (CREATED,
 * CREATE_FAILED, DESTROYED, VALID, INVALID, DROPPED); the machine decides what follows.
 *
 * No actor is invoked for any of this: a promise per step and an event at its end cost a
 * fraction of an invoked actor's start, stop and snapshots, paid on every connection created.
 */
import type { AnyActorRef } from 'xstate';
import { unwanted, type ConnectionContext } from '../../machines/connection.machine.js';
import { ageDeadline, LIFETIME_SPREAD } from '../../machines/pool.decisions.js';
import { InvalidConnectionError } from '../errors.js';
import { describe } from '../time.js';
import type { ConnectionRecord } from './records.js';
import type { KeyedPool } from './keyed-pool.js';

/**
 * Creates one connection, when the pool machine decides it needs one. `signal` aborts when the
 * attempt is abandoned (its `timeout` expired, or a shutdown gave up on it): a factory that
 * honours it frees its half-open socket early; whatever it resolves after that is destroyed.
 */
export type ConnectionFactory<T> = (options: { signal: AbortSignal; connectionId: string }) => T | Promise<T>;

const noop = (): void => {};
type DestroyedEvent = { type: 'DESTROYED'; error?: unknown };
const DESTROYED: DestroyedEvent = { type: 'DESTROYED' };
const VALID = { type: 'VALID' } as const;

interface Emitterish {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off?(event: string, listener: (...args: unknown[]) => void): unknown;
  removeListener?(event: string, listener: (...args: unknown[]) => void): unknown;
}

function isEmitter(value: object): value is Emitterish {
  return typeof (value as { on?: unknown }).on === 'function';
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function';
}

/** The default destroy: the resource's own close(), destroy() or end(), the first found. */
export function defaultDestroy(resource: object): unknown {
  const r = resource as { close?: unknown; destroy?: unknown; end?: unknown };
  if (typeof r.close === 'function') return (r.close as () => unknown).call(resource);
  if (typeof r.destroy === 'function') return (r.destroy as () => unknown).call(resource);
  if (typeof r.end === 'function') return (r.end as () => unknown).call(resource);
  return undefined;
}

/** The error a close event carries, if any: an Error argument, or an `{ error }` payload. */
function errorOf(args: unknown[]): unknown {
  const [first] = args;
  if (first instanceof Error) return first;
  if (first !== null && typeof first === 'object' && (first as { error?: unknown }).error instanceof Error) {
    return (first as { error: Error }).error;
  }
  return undefined;
}

/**
 * One create in flight, and the options its factory is called with. The AbortController is
 * made only when the factory reads `signal`: many factories never do, and one controller per
 * create was a measurable part of a connection's lifecycle when connections churn.
 */
class CreateAttempt {
  private controller: AbortController | undefined;
  private abandonedBy: Error | undefined;
  /**
   * What the factory is called with. `signal` is an own, enumerable getter, so destructuring,
   * spreading (`{ ...options }`) and `Object.keys` see it as they would a plain property.
   */
  readonly options: { readonly signal: AbortSignal; readonly connectionId: string };

  constructor(connectionId: string) {
    const attempt = this;
    this.options = {
      connectionId,
      get signal(): AbortSignal {
        return attempt.signal();
      },
    };
  }

  private signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.abandonedBy !== undefined) this.controller.abort(this.abandonedBy);
    }
    return this.controller.signal;
  }

  abort(reason: Error): void {
    this.abandonedBy = reason;
    this.controller?.abort(reason);
  }
}

export class ConnectionEffects {
  /** Average time (ms) a successful create takes; 0: none yet. */
  createMs = 0;
  /** The key's last create error since its last successful create (for AcquireTimeoutError's cause). */
  lastCreateError: unknown = undefined;
  /** Attempts in flight, by connection id. */
  private readonly creates = new Map<string, CreateAttempt>();
  private readonly validations = new Map<string, AbortController>();

  constructor(private readonly pool: KeyedPool) {}

  // --- create ---------------------------------------------------------------------------

  startCreate(id: string, actor: AnyActorRef): void {
    const attempt = new CreateAttempt(id);
    this.creates.set(id, attempt);
    void this.create(id, actor, attempt);
  }

  /** Leaving `connecting`: an attempt still running was abandoned (timeout, shutdown). */
  endCreate(id: string): void {
    const attempt = this.creates.get(id);
    if (attempt === undefined) return;
    this.creates.delete(id);
    attempt.abort(new Error('connection attempt abandoned'));
  }

  private async create(id: string, actor: AnyActorRef, attempt: CreateAttempt): Promise<void> {
    const pool = this.pool;
    const clock = pool.host.clock;
    const started = clock.now();
    let resource: unknown;
    try {
      const factory = pool.factory;
      if (factory === undefined) throw new InvalidConnectionError(pool.key, 'no factory was given for this key');
      resource = await factory(attempt.options);
    } catch (error) {
      if (this.creates.get(id) !== attempt) return; // abandoned meanwhile: nobody is listening
      this.creates.delete(id);
      this.lastCreateError = error;
      actor.send({ type: 'CREATE_FAILED', error });
      return;
    }
    if (this.creates.get(id) !== attempt) {
      // Abandoned meanwhile (timeout, shutdown): nobody will use this one.
      if (resource !== null && typeof resource === 'object') this.destroyQuietly(resource);
      return;
    }
    this.creates.delete(id);
    if (resource === null || (typeof resource !== 'object' && typeof resource !== 'function')) {
      const error = new InvalidConnectionError(pool.key, `resolved ${describe(resource)}; a connection must be an object`);
      this.lastCreateError = error;
      actor.send({ type: 'CREATE_FAILED', error });
      return;
    }
    if (pool.host.poolOf(resource) !== undefined) {
      const error = new InvalidConnectionError(pool.key, 'resolved a connection that is already pooled');
      this.lastCreateError = error;
      actor.send({ type: 'CREATE_FAILED', error });
      return;
    }
    const now = clock.now();
    const took = now - started;
    this.createMs = this.createMs === 0 ? took : 0.8 * this.createMs + 0.2 * took;
    this.lastCreateError = undefined;
    const config = pool.machineConfig();
    const aged = ageDeadline(now, Math.random() * LIFETIME_SPREAD, config);
    const record: ConnectionRecord = {
      id,
      resource,
      actor,
      openedAt: now,
      agedAt: aged.at,
      agedBy: aged.by,
      state: 'away',
      retired: false,
      idleSince: now,
      lentAt: -1,
      uses: 0,
      lease: 0,
      leakAt: Number.POSITIVE_INFINITY,
      leakStack: undefined,
      unwatch: undefined,
      checkinOwed: false,
      checkinListed: false,
      idleAt: -1,
    };
    pool.host.adopt(resource, pool);
    record.unwatch = this.watch(record);
    // The machine's own guard decides whether CREATED leads to open or to closing.
    const lent = pool.ledger.adopt(record, !unwanted(actor.getSnapshot().context as ConnectionContext));
    pool.deadline(aged.at);
    actor.send({ type: 'CREATED', lent });
  }

  // --- watch ----------------------------------------------------------------------------

  /** Listens for the resource's close events (settings.closeEvents); returns the unsubscribe. */
  private watch(record: ConnectionRecord): (() => void) | undefined {
    const resource = record.resource;
    if (!isEmitter(resource)) return undefined;
    // A pooled resource that errors must never crash the process, whatever is watched.
    resource.on('error', noop);
    const names = this.pool.settings.closeEvents;
    const onDead = (...args: unknown[]): void => {
      unwatch();
      this.dropped(record, errorOf(args));
    };
    for (const name of names) resource.on(name, onDead);
    const unwatch = (): void => {
      for (const name of names) {
        if (typeof resource.off === 'function') resource.off(name, onDead);
        else resource.removeListener?.(name, onDead);
      }
    };
    return unwatch;
  }

  private dropped(record: ConnectionRecord, error: unknown): void {
    record.unwatch = undefined;
    const openMs = this.pool.host.clock.now() - record.openedAt;
    this.pool.ledger.dropped(record);
    record.actor.send({ type: 'DROPPED', error, openMs });
  }

  // --- destroy --------------------------------------------------------------------------

  /**
   * Destroys the resource. Returns the DESTROYED event when the destroy finished at once (a
   * synchronous destroy, a throw, or nothing to destroy), for the machine to raise in the same
   * step; otherwise undefined, and DESTROYED is sent when its promise settles.
   */
  startDestroy(id: string, actor: AnyActorRef): DestroyedEvent | undefined {
    const record = this.pool.ledger.record(id);
    if (record === undefined) return DESTROYED; // nothing was created
    record.unwatch?.();
    record.unwatch = undefined;
    this.pool.counters.destroyed++;
    let result: unknown;
    try {
      result = (this.pool.spec.destroy ?? defaultDestroy)(record.resource);
    } catch (error) {
      return { type: 'DESTROYED', error };
    }
    if (!isThenable(result)) return DESTROYED;
    result.then(
      () => actor.send(DESTROYED),
      (error: unknown) => actor.send({ type: 'DESTROYED', error }),
    );
    return undefined;
  }

  private destroyQuietly(resource: object): void {
    try {
      const result = (this.pool.spec.destroy ?? defaultDestroy)(resource);
      if (isThenable(result)) result.then(noop, noop);
    } catch {
      // Nobody holds it and nobody waits for it: a failing destroy has nowhere to go.
    }
  }

  // --- validation on borrow -------------------------------------------------------------

  /**
   * `open.idle` entered (`resting`) or left. The connections a pool opens for a registered
   * server stop holding the process while they rest, as Node's own fetch lets its idle sockets
   * go: a script that is done exits, and its idle pooled sockets go with it. Lent, validated or
   * closing, they hold it again. (A user's own resources are left as the user made them.)
   */
  rest(id: string, resting: boolean): void {
    if (!this.pool.factoryFromServer) return;
    const resource = this.pool.ledger.record(id)?.resource as { ref?: () => void; unref?: () => void } | undefined;
    if (resting) resource?.unref?.();
    else resource?.ref?.();
  }

  startValidation(id: string, actor: AnyActorRef): void {
    const record = this.pool.ledger.record(id);
    const validate = this.pool.spec.validate;
    if (record === undefined || validate === undefined) {
      actor.send(VALID);
      return;
    }
    const controller = new AbortController();
    this.validations.set(id, controller);
    const settle = (ok: boolean, error: unknown): void => {
      if (this.validations.get(id) !== controller) return; // timed out or abandoned meanwhile
      this.validations.delete(id);
      if (ok) {
        actor.send(VALID);
        this.pool.ledger.validated(record);
      } else {
        this.pool.counters.invalidated++;
        actor.send({ type: 'INVALID', error: error ?? new Error('validation returned false') });
        this.pool.ledger.invalidated(record);
      }
    };
    try {
      const result = validate(record.resource, { signal: controller.signal });
      if (isThenable(result)) {
        result.then(
          (ok) => settle(ok === true, undefined),
          (error: unknown) => settle(false, error),
        );
      } else {
        // Answered at once: still settle after this transition, like an asynchronous answer.
        queueMicrotask(() => settle(result === true, undefined));
      }
    } catch (error) {
      queueMicrotask(() => settle(false, error));
    }
  }

  /** Leaving `validating` without an answer (timeout, retired, dropped): its caller is served otherwise. */
  endValidation(id: string): void {
    const controller = this.validations.get(id);
    if (controller === undefined) return;
    this.validations.delete(id);
    controller.abort(new Error('validation abandoned'));
    this.pool.counters.invalidated++;
    const record = this.pool.ledger.record(id);
    if (record !== undefined) this.pool.ledger.invalidated(record);
  }
}
