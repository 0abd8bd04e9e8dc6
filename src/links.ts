/**
 * Links: the connections `connect()` and `connectParallel()` open. Each is a connection actor
 * (supervised: it reconnects on a drop, following its retry strategy) under the manager, and
 * one `Connection` object that its holder keeps across reconnects. This module holds their
 * effects (open a socket, attach it, close it, watch it) and settles connect()'s promises from
 * the actor's reports. The lifecycle itself is machines/connection.machine.ts.
 */
import { createActor, type AnyActorRef, type AnyStateMachine } from 'xstate';
import type { ConnectionInput, ConnectionReport } from '../machines/connection.machine.js';
import { linkId } from '../machines/ids.js';
import type { Clock, KeepAlive } from './clock.js';
import type { RetryPolicy } from './retry.js';
import { openSocket } from './transport/connect.js';
import { Connection } from './transport/connection.js';
import type { PrivateServer } from './transport/server-info.js';
import { NO_RETRY } from './retry.js';
import { defaultPoolSettings } from './config.js';
import { DESTROY_TIMEOUT_MS } from '../machines/connection.machine.js';

/** A link's drop sooner than this after connecting (ms) counts as its attempt failing (default): a pool's. */
export const LINK_STABILITY_WINDOW = defaultPoolSettings.stabilityWindow;

/** How a link retries, and how soon a drop means its attempt failed. */
export interface LinkPolicy extends RetryPolicy {
  stabilityWindow: number;
}

interface Link {
  readonly id: string;
  /** The library's copy of the server: its TLS options are out of sight of inspection. */
  readonly server: PrivateServer;
  readonly retry: RetryPolicy;
  actor: AnyActorRef | undefined;
  connection: Connection | undefined;
  /** Clock time (ms) the current socket connected. */
  connectedAt: number;
  /** The attempt in flight, if any. */
  attempt: AbortController | undefined;
  /** connect()'s promise for this server, until the first connection or the final failure. */
  settle: { resolve(connection: Connection): void; reject(error: unknown): void } | undefined;
  /** Held while it reconnects in the background, so the process waits for it. */
  release: (() => void) | undefined;
}

export interface LinkHost {
  readonly clock: Clock;
  readonly keepAlive: KeepAlive;
  /** Asks the manager machine to open the link's actor (LINK.OPEN). */
  open(input: ConnectionInput): void;
  /** The manager actor (the links' parent). */
  parent(): AnyActorRef;
}

const DESTROYED = { type: 'DESTROYED' } as const;

export class LinkRegistry {
  private readonly links = new Map<string, Link>();
  /** The links' running actors (kept until the manager stops them, after the link's last report). */
  private readonly linkActors = new Map<string, AnyActorRef>();
  private seq = 0;
  private logic: AnyStateMachine | undefined;

  constructor(private readonly host: LinkHost) {}

  get size(): number {
    return this.links.size;
  }

  /** The connection machine with the links' effects (set once by the runtime). */
  useLogic(logic: AnyStateMachine): void {
    this.logic = logic;
  }

  /** Every link actor still running (for shutdown, force, and a manager stopped outright). */
  runningActors(): IterableIterator<AnyActorRef> {
    return this.linkActors.values();
  }

  /** Open connections held by links. */
  *connections(): IterableIterator<Connection> {
    for (const link of this.links.values()) if (link.connection !== undefined && !link.connection.closed) yield link.connection;
  }

  /** The links' actors that run. */
  *actors(): IterableIterator<{ ref: AnyActorRef; key: string }> {
    for (const [id, ref] of this.linkActors) yield { ref, key: this.links.get(id)?.server.cacheKey ?? '' };
  }

  /** Opens a link to `server`; resolves with its Connection once connected, or rejects with the last error. */
  open(server: PrivateServer, retry: LinkPolicy): Promise<Connection> {
    const id = linkId(server.cacheKey, ++this.seq);
    return new Promise<Connection>((resolve, reject) => {
      const link: Link = {
        id,
        server,
        retry,
        actor: undefined,
        connection: undefined,
        connectedAt: 0,
        attempt: undefined,
        settle: { resolve, reject },
        release: undefined,
      };
      this.links.set(id, link);
      const input: ConnectionInput = {
        id,
        key: server.cacheKey,
        maxAttempts: retry.maxAttempts,
        attemptTimeout: retry.attemptTimeout,
        supervised: true,
        epoch: 0,
        stabilityWindow: retry.stabilityWindow,
        validationTimeout: Number.POSITIVE_INFINITY,
        destroyTimeout: DESTROY_TIMEOUT_MS,
      };
      // Created here, started (and STARTed with its input) by the manager's transition (LINK.OPEN).
      if (this.logic !== undefined) link.actor = createActor(this.logic, { parent: this.host.parent(), id });
      this.host.open(input);
    });
  }

  /** Manager effect `openLink`: start the link's actor (the manager then sends it START). */
  startActor(id: string): AnyActorRef | undefined {
    const actor = this.links.get(id)?.actor;
    if (actor === undefined) return undefined;
    this.linkActors.set(id, actor);
    actor.start();
    return actor;
  }

  /** Manager effect `stopLink`: the link's actor has reported its end. */
  takeActor(id: string): AnyActorRef | undefined {
    const actor = this.linkActors.get(id);
    this.linkActors.delete(id);
    return actor;
  }

  policy(id: string): RetryPolicy {
    return this.links.get(id)?.retry ?? NO_RETRY;
  }

  // --- effects of the link's connection actor ---------------------------------------------

  /** `startCreate`: one attempt. The first socket becomes the link's Connection; later ones are attached to it. */
  startCreate(id: string, actor: AnyActorRef): void {
    const link = this.links.get(id);
    if (link === undefined) return;
    const attempt = new AbortController();
    link.attempt = attempt;
    void this.connect(link, actor, attempt);
  }

  endCreate(id: string): void {
    const link = this.links.get(id);
    const attempt = link?.attempt;
    if (link === undefined || attempt === undefined) return;
    link.attempt = undefined;
    attempt.abort(new Error('connection attempt abandoned'));
  }

  private async connect(link: Link, actor: AnyActorRef, attempt: AbortController): Promise<void> {
    let socket: Awaited<ReturnType<typeof openSocket>>;
    try {
      // The machine bounds the attempt (`attemptTimeout`); leaving the state aborts the signal.
      socket = await openSocket(link.server, { timeout: Number.POSITIVE_INFINITY, signal: attempt.signal });
    } catch (error) {
      if (link.attempt !== attempt) return;
      link.attempt = undefined;
      actor.send({ type: 'CREATE_FAILED', error });
      return;
    }
    if (link.attempt !== attempt) {
      socket.destroy();
      return;
    }
    link.attempt = undefined;
    if (link.connection === undefined) {
      const connection = new Connection(socket, link.server, { id: link.id, supervised: true });
      link.connection = connection;
      // Its holder closing it ends the link: no more reconnecting.
      connection.on('close', () => link.actor?.send({ type: 'RETIRE', reason: 'closed' }));
      connection.on('disconnected', (event) => {
        const openMs = this.host.clock.now() - link.connectedAt;
        link.actor?.send({ type: 'DROPPED', error: event.error, openMs });
      });
    } else {
      try {
        link.connection.attach(socket);
      } catch (error) {
        // The socket died between connecting and attaching: this attempt failed.
        socket.destroy();
        actor.send({ type: 'CREATE_FAILED', error });
        return;
      }
    }
    link.connectedAt = this.host.clock.now();
    // Held by its caller, not lent by a pool: the machine's `open.idle` (retiring it closes it at once).
    actor.send({ type: 'CREATED', lent: false });
  }

  /** `startDestroy`: close the Connection for good. */
  startDestroy(id: string, actor: AnyActorRef): void {
    const connection = this.links.get(id)?.connection;
    if (connection === undefined) {
      actor.send(DESTROYED);
      return;
    }
    connection.close().then(
      () => actor.send(DESTROYED),
      (error: unknown) => actor.send({ type: 'DESTROYED', error }),
    );
  }

  /** The link lost its socket and reconnects: hold the process open meanwhile. */
  disconnected(id: string): void {
    const link = this.links.get(id);
    if (link !== undefined) link.release ??= this.host.keepAlive.hold();
  }

  /** Manager action `linkReport`: settle connect(), stop holding the process, forget ended links. */
  report(report: ConnectionReport): void {
    const link = this.links.get(report.id);
    if (link === undefined) return;
    switch (report.type) {
      case 'CONNECTION.READY':
        this.stopHolding(link);
        if (link.connection !== undefined) {
          link.settle?.resolve(link.connection);
          link.settle = undefined;
        }
        break;
      case 'CONNECTION.FAILED':
        this.stopHolding(link);
        link.settle?.reject(report.error);
        link.settle = undefined;
        // Gave up reconnecting: the holder's Connection closes for good, with the last error.
        link.connection?.finalize(report.error instanceof Error ? report.error : undefined);
        this.links.delete(link.id);
        break;
      case 'CONNECTION.CLOSED':
        this.stopHolding(link);
        link.settle?.reject(report.error ?? new Error(`connection ${link.id} closed before it connected`));
        link.settle = undefined;
        this.links.delete(link.id);
        break;
      default:
        break;
    }
  }

  private stopHolding(link: Link): void {
    link.release?.();
    link.release = undefined;
  }
}
