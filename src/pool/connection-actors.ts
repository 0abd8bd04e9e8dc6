/**
 * The connection actors of one key, by connection id: created, or not yet (an attempt, or a
 * backoff).
 *
 * They are created with `createActor(logic, { parent: poolActor })` and kept here, not spawned
 * into the pool actor's `children` record: XState copies that record on every spawn and stop,
 * which made a pool of thousands quadratic. The inspector still shows them under their pool
 * (their parent).
 */
import { createActor, type AnyActorRef, type AnyStateMachine } from 'xstate';
import { stopActor } from '../xstate-internals.js';

export class ConnectionActors {
  private readonly byId = new Map<string, AnyActorRef>();

  constructor(private readonly logic: AnyStateMachine) {}

  /** A new, started actor for connection `id`, under the pool actor `parent`. */
  create(id: string, parent: AnyActorRef): AnyActorRef {
    // Created in the transition's resolution (not in a custom action), with a static context:
    // XState warns when an actor is created inside an action.
    const ref = createActor(this.logic, { parent, id });
    ref.start();
    this.byId.set(id, ref);
    return ref;
  }

  get(id: string): AnyActorRef | undefined {
    return this.byId.get(id);
  }

  /** The actor of connection `id`, no longer kept here (it is to be stopped). */
  take(id: string): AnyActorRef | undefined {
    const actor = this.byId.get(id);
    this.byId.delete(id);
    return actor;
  }

  /** Every live connection actor. */
  values(): IterableIterator<AnyActorRef> {
    return this.byId.values();
  }

  /** Actors whose connection `created` does not know (its create has not produced a resource yet). */
  *uncreated(created: (id: string) => boolean): IterableIterator<AnyActorRef> {
    for (const [id, actor] of this.byId) if (!created(id)) yield actor;
  }

  /** The pool actor stopped (the manager was stopped outright): stop them all. */
  stopAll(): void {
    for (const actor of this.byId.values()) stopActor(actor);
    this.byId.clear();
  }
}
