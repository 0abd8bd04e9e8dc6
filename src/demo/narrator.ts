/**
 * Tells the demo's story as it happens: every state change of the pool's actor and of its
 * connections' actors (from the inspection stream), with the breaker's delay where one is
 * pending, the network errors, and one line per act. The machines decide; this only reads.
 */
import type { AnyActorRef, InspectionEvent } from 'xstate';
import type { ConnectionManager } from '../index.js';
import { inspectManager } from '../introspection.js';

const started = performance.now();

/** Seconds since the demo started, as a fixed-width stamp. */
export function stamp(): string {
  return `${((performance.now() - started) / 1000).toFixed(2).padStart(6)}s`;
}

export function say(line: string): void {
  console.log(`${stamp()}  ${line}`);
}

/** A heading for each act of the story. */
export function act(title: string): void {
  console.log(`\n${stamp()}  == ${title}`);
}

/** Leaf state paths of a snapshot value, e.g. running.creates.steady.creating. */
function leaves(value: unknown, prefix = ''): string[] {
  if (typeof value === 'string') return [prefix + value];
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => leaves(v, `${prefix}${k}.`));
}

/**
 * Prints state changes of the pool actor (its `creates` region: the breaker) and of every
 * connection actor, and the errors. Returns the unsubscribe function.
 */
export function narrate(manager: ConnectionManager, options: { connections: boolean }): () => void {
  const last = new Map<string, string>();
  const stopInspecting = inspectManager(manager, (event: InspectionEvent) => {
    if (event.type !== '@xstate.snapshot') return;
    const ref = event.actorRef as AnyActorRef;
    const id = ref.id;
    const snapshot = event.snapshot as { value?: unknown; context?: Record<string, unknown>; status?: string };
    let state: string;
    if (id.startsWith('pool:')) {
      state = leaves(snapshot.value).filter((l) => !l.includes('housekeeping')).join(', ');
      const c = snapshot.context ?? {};
      if (state.endsWith('coolingDown')) {
        const breaker = (c.config as { breaker?: { initialDelay: number; maxDelay: number } } | undefined)?.breaker;
        const failures = Number(c.failures ?? 1);
        if (breaker !== undefined) {
          const delay = Math.min(breaker.initialDelay * 2 ** Math.max(0, failures - 1), breaker.maxDelay);
          state += `  (breaker open after ${failures} failed episode${failures === 1 ? '' : 's'}: a probe in ${delay} ms)`;
        }
      }
    } else if (id.includes('#')) {
      if (!options.connections) return;
      state = leaves(snapshot.value).join(', ');
      if (snapshot.status === 'stopped') state = '(actor stopped)';
    } else {
      state = leaves(snapshot.value).join(', ');
    }
    if (last.get(id) === state) return;
    last.set(id, state);
    say(`  ${id.padEnd(10)} ${state}`);
  });
  const onError = (e: { connectionId: string; code: string | undefined; error: Error }) =>
    say(`  ${e.connectionId.padEnd(10)} error ${e.code ?? ''} ${e.error.message}`);
  manager.events.on('connection:error', onError);
  return () => {
    stopInspecting();
    manager.events.off('connection:error', onError);
  };
}
