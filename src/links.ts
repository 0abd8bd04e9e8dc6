/**
 * Links: the connections `connect()` and `connectParallel()` open. Each is a connection actor
 * (supervised: it reconnects on a drop, following its retry strategy) spawned by the manager
 * machine, and one `Connection` object that its holder keeps across reconnects. This module
 * holds their effects (open a socket, attach it, close it) and settles connect()'s promises
 * from the actor's reports. The lifecycle itself is machines/connection.machine.ts.
 */
import type { AnyActorRef } from 'xstate';
import { CreateAbandonedError, type CloseReason, type ConnectionReport } from '../machines/connection.machine.js';
import type { KeepAlive } from './clock.js';
import type { EventHub } from './events.js';
import { emitConnectionReport } from './reports.js';
import { retryDelay, type RetryPolicy } from './retry.js';
import { openSocket } from './transport/connect.js';
import { Connection } from './transport/connection.js';
import type { PrivateServer } from './transport/server-info.js';

interface Link {
  readonly id: string;
  /** The library's copy of the server: its TLS options are out of sight of inspection. */
  readonly server: PrivateServer;
  readonly retry: RetryPolicy;
  connection: Connection | undefined;
  /** connect()'s promise for this server, until the first connection or the final failure. */
  settle: { resolve(connection: Connection): void; reject(error: unknown): void } | undefined;
  /** Held while it reconnects in the background, so the process waits for it. */
  release: (() => void) | undefined;
}

export interface LinkHost {
  readonly events: EventHub;
  readonly keepAlive: KeepAlive;
  /** The link's actor, while it runs. */
  actorOf(id: string): AnyActorRef | undefined;
  /** Asks the manager machine to spawn the link's actor. */
  spawn(id: string, key: string, retry: RetryPolicy): void;
}

export class LinkRegistry {
  private readonly links = new Map<string, Link>();
  private seq = 0;

  constructor(private readonly host: LinkHost) {}

  get size(): number {
    return this.links.size;
  }

  /** Open connections held by links. */
  *connections(): IterableIterator<Connection> {
    for (const link of this.links.values()) if (link.connection !== undefined && !link.connection.closed) yield link.connection;
  }

  /** The links' actors that are running. */
  *actors(): IterableIterator<{ ref: AnyActorRef; key: string }> {
    for (const link of this.links.values()) {
      const ref = this.host.actorOf(link.id);
      if (ref !== undefined) yield { ref, key: link.server.cacheKey };
    }
  }

  /** Spawns a link for `server`; resolves with its Connection once connected, or rejects with the last error. */
  open(server: PrivateServer, retry: RetryPolicy): Promise<Connection> {
    const id = `${server.cacheKey}@${++this.seq}`;
    return new Promise<Connection>((resolve, reject) => {
      this.links.set(id, { id, server, retry, connection: undefined, settle: { resolve, reject }, release: undefined });
      this.host.spawn(id, server.cacheKey, retry);
    });
  }

  // --- effects of the link's connection actor ---------------------------------------------

  /** `create`: one attempt. The first socket becomes the link's Connection; later ones are attached to it. */
  async create(id: string, signal: AbortSignal): Promise<void> {
    const link = this.links.get(id);
    if (link === undefined) throw new Error(`no link '${id}'`);
    // The machine bounds the attempt (`attemptTimeout`); leaving the state aborts `signal`.
    const socket = await openSocket(link.server, { timeout: Number.POSITIVE_INFINITY, signal });
    if (signal.aborted) {
      socket.destroy();
      return;
    }
    if (link.connection === undefined) {
      const connection = new Connection(socket, link.server, { id, supervised: true });
      link.connection = connection;
      // Its holder closing it ends the link: no more reconnecting.
      connection.on('close', () => this.host.actorOf(id)?.send({ type: 'RETIRE', reason: 'closed' }));
    } else {
      try {
        link.connection.attach(socket);
      } catch (error) {
        // The socket died between connecting and attaching: this attempt failed.
        socket.destroy();
        throw error;
      }
    }
  }

  /** `destroy`: close the Connection for good. */
  async destroy(id: string): Promise<void> {
    await this.links.get(id)?.connection?.close();
  }

  /** `watch`: the socket dropped (the Connection stays, disconnected, for the reconnect). */
  watch(id: string, report: (error: unknown) => void): () => void {
    const connection = this.links.get(id)?.connection;
    if (connection === undefined) return () => {};
    return connection.on('disconnected', (event) => report(event.error));
  }

  /** `computeRetry`: the link's strategy answers for a failed attempt. */
  retryDelay(id: string, attempt: number, maxAttempts: number, error: unknown): number | null {
    const link = this.links.get(id);
    return link === undefined ? null : retryDelay(link.retry, attempt, maxAttempts, error);
  }

  /** Manager action `linkReport`: settle connect(), keep the process alive while reconnecting, emit events. */
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
      case 'CONNECTION.DISCONNECTED':
        link.release ??= this.host.keepAlive.hold();
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
    emitConnectionReport(this.host.events, link.server.cacheKey, report);
    if (report.type === 'CONNECTION.FAILED') {
      // Gave up: the link is gone for good, so, like every connection, it ends in
      // connection:closed (after connection:failed), with the last error.
      this.host.events.emitConnection('connection:closed', {
        key: link.server.cacheKey,
        connectionId: report.id,
        reason: givenUpReason(report.error),
        error: report.error,
      });
    }
  }

  private stopHolding(link: Link): void {
    link.release?.();
    link.release = undefined;
  }
}

/**
 * The close reason of a link that gave up. CloseReason has no "failed" yet (it is the
 * connection machine's type): the attempts failed on their own, so `'dropped'`; a create the
 * shutdown timeout abandoned, `'forced'`.
 */
function givenUpReason(error: unknown): CloseReason {
  return error instanceof CreateAbandonedError ? 'forced' : 'dropped';
}
