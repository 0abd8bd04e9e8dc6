/**
 * A child actor reports to its parent only when it has one. A machine run alone
 * (`createActor(connectionMachine).start()`, the Stately editor) has none, and XState's plain
 * `sendParent` throws there ("Unable to send event to actor '#_parent'").
 */
import type { AnyActorRef } from 'xstate';

/**
 * Whether `self` has a parent actor. XState 5 keeps the parent in `_parent`, outside its public
 * types; test/xstate-internals.test.ts fails if that changes.
 */
export function hasParent(self: AnyActorRef): boolean {
  return (self as { _parent?: unknown })._parent !== undefined;
}
