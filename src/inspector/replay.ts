/**
 * What a viewer that opens the inspector late must be sent first: every live actor's
 * registration (`@xstate.actor`) and its latest snapshot, in registration order, so the
 * inspector draws the current tree. (A replay of "the last 200 messages", as
 * `@statelyai/inspect/server` keeps, loses the registrations of long-lived actors such as the
 * manager and its pools under a stream of snapshots, and keeps actors that stopped long ago.)
 * Events (`@xstate.event`) are history, not state: they are relayed live, never replayed.
 *
 * Subtlety: an actor leaves the replay when it reports a snapshot whose status is no longer
 * `active` (a machine actor stopped by its parent or by the runtime does, with `stopped`).
 * Its parent's `children` record is no guide: the runtime keeps pools and connections out of
 * it (docs/architecture.md), so a child missing from it may well be alive.
 */

interface ActorEntry {
  /** The actor's id, as its parent's `children` record names it. */
  readonly name: string;
  readonly parentId: string | undefined;
  /** The `@xstate.actor` message, as received. */
  readonly registration: string;
  /** The latest `@xstate.snapshot` message, as received. */
  snapshot: string | undefined;
}

/** The fields of an inspection message this reads; anything else passes through unread. */
interface InspectionMessage {
  type?: unknown;
  sessionId?: unknown;
  parentId?: unknown;
  name?: unknown;
  snapshot?: { status?: unknown };
}

export const DEFAULT_REPLAY_ACTORS = 1000;

export class ActorReplay {
  /** By session id, in registration order (Map order), so parents come before their children. */
  private readonly actors = new Map<string, ActorEntry>();
  /** Session ids of each parent's registered children (so a snapshot prunes in O(children)). */
  private readonly childrenOf = new Map<string, Set<string>>();

  /** `maxActors`: live actors remembered; beyond it the oldest registrations are forgotten. */
  constructor(private readonly maxActors = DEFAULT_REPLAY_ACTORS) {}

  get size(): number {
    return this.actors.size;
  }

  /** Takes note of one message from the library's inspector (raw JSON text). */
  record(text: string): void {
    let message: InspectionMessage;
    try {
      message = JSON.parse(text) as InspectionMessage;
    } catch {
      return;
    }
    if (message === null || typeof message !== 'object' || typeof message.sessionId !== 'string') return;
    const sessionId = message.sessionId;
    if (message.type === '@xstate.actor') {
      // Registrations are sent late (the inspector defers its work), so an actor can be
      // registered after it has already finished.
      if (message.snapshot?.status !== undefined && message.snapshot.status !== 'active') return;
      const parentId = typeof message.parentId === 'string' ? message.parentId : undefined;
      this.forget(sessionId);
      this.actors.set(sessionId, {
        name: typeof message.name === 'string' ? message.name : sessionId,
        parentId,
        registration: text,
        snapshot: undefined,
      });
      if (parentId !== undefined) {
        const siblings = this.childrenOf.get(parentId) ?? new Set<string>();
        siblings.add(sessionId);
        this.childrenOf.set(parentId, siblings);
      }
      this.trim();
    } else if (message.type === '@xstate.snapshot') {
      const entry = this.actors.get(sessionId);
      if (entry === undefined) return;
      if (message.snapshot?.status !== 'active') {
        this.forget(sessionId);
        return;
      }
      entry.snapshot = text;
    }
  }

  /** The messages a new viewer gets before the live stream. */
  messages(): string[] {
    const out: string[] = [];
    for (const entry of this.actors.values()) {
      out.push(entry.registration);
      if (entry.snapshot !== undefined) out.push(entry.snapshot);
    }
    return out;
  }

  /** An actor and, with it, its descendants. */
  private forget(sessionId: string): void {
    const entry = this.actors.get(sessionId);
    if (entry === undefined) return;
    this.actors.delete(sessionId);
    if (entry.parentId !== undefined) this.childrenOf.get(entry.parentId)?.delete(sessionId);
    const children = this.childrenOf.get(sessionId);
    this.childrenOf.delete(sessionId);
    for (const child of children ?? []) this.forget(child);
  }

  /** Over the limit: the oldest actors without children go first (never a parent before its tree). */
  private trim(): void {
    for (const id of this.actors.keys()) {
      if (this.actors.size <= this.maxActors) return;
      if ((this.childrenOf.get(id)?.size ?? 0) === 0) this.forget(id);
    }
  }
}
