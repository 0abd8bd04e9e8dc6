/**
 * What observers (the dashboard, tests, tools) may read about a manager's live actor tree,
 * without knowing how the runtime keeps its actors. The runtime does not keep every actor in
 * XState's `snapshot.children` records (see docs/architecture.md), so walking those records is
 * not enough; this module is the one place that knows where the actors are.
 */
import type { AnyActorRef, InspectionEvent, Observer } from 'xstate';
import type { ConnectionManager } from './manager.js';
import type { ManagerRuntime } from './runtime.js';

/** What kind of actor a node is. A `link` is a connection opened by `connect()`. */
export type ActorKind = 'manager' | 'pool' | 'connection' | 'link';

export interface ActorNode {
  readonly ref: AnyActorRef;
  readonly kind: ActorKind;
  /** The parent actor's id (`undefined` for the manager). */
  readonly parentId: string | undefined;
  /** The pool key (pools, connections, links). */
  readonly key: string | undefined;
}

const runtimes = new WeakMap<ConnectionManager, ManagerRuntime>();

/** @internal Called by the ConnectionManager constructor. */
export function registerRuntime(manager: ConnectionManager, runtime: ManagerRuntime): void {
  runtimes.set(manager, runtime);
}

function runtimeOf(manager: ConnectionManager): ManagerRuntime {
  const runtime = runtimes.get(manager);
  if (runtime === undefined) throw new TypeError('not a ConnectionManager');
  return runtime;
}

/** Every live actor of `manager`: the manager first, then each pool followed by its connections, then the links. */
export function actorTree(manager: ConnectionManager): ActorNode[] {
  return runtimeOf(manager).actorTree();
}

/**
 * Subscribes `observer` to the inspection events of `manager`'s actor system from now on
 * (what `new ConnectionManager({ inspect })` receives). Returns the unsubscribe function.
 */
export function inspectManager(
  manager: ConnectionManager,
  observer: Observer<InspectionEvent> | ((event: InspectionEvent) => void),
): () => void {
  const subscription = runtimeOf(manager).actor.system.inspect(observer);
  return () => subscription.unsubscribe();
}
