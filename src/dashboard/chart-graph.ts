/**
 * Reads a machine's statechart from its definition, generically: state nodes, their `on`,
 * `after`, `always` and invoke transitions, initial states. Nothing here names a state or an
 * event of our machines, so the drawing follows the machines as they change.
 *
 * The one subtlety: XState keeps every transition of a state in one map (`transitions`),
 * keyed by event type, including the delayed (`xstate.after.<delay>.<id>`) and invoke
 * (`xstate.done.actor.<id>`, `xstate.error.actor.<id>`) ones; the kind of each is told by its
 * key, and an `after` delay's name comes from the state's `after` list, matched by event type.
 */
import type { AnyStateMachine } from 'xstate';
import type { ChartGraph, ChartState, ChartTransition, ChartTransitionKind, ChartTrigger } from './chart-types.js';

/** The parts of XState's StateNode read here (a structural view, stable across 5.x). */
interface StateNodeView {
  key: string;
  path: string[];
  type: ChartState['type'];
  states: Record<string, StateNodeView>;
  transitions: Map<string, TransitionView[]>;
  always?: TransitionView[];
  after: Array<TransitionView & { delay: unknown }>;
  initial?: { target: readonly StateNodeView[] };
  invoke: Array<{ id: string }>;
}

interface TransitionView {
  target: readonly StateNodeView[] | undefined;
  guard?: unknown;
  reenter: boolean;
  eventType: string;
}

const pathOf = (node: StateNodeView): string => node.path.join('.');

/** A guard's name: `'name'`, `{ type }`, or a guard function (`stateIn(...)`, an inline one). */
function guardName(guard: unknown): string | undefined {
  if (guard === undefined || guard === null) return undefined;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' && typeof (guard as { type?: unknown }).type === 'string') {
    return (guard as { type: string }).type;
  }
  if (typeof guard === 'function') {
    const named = (guard as { type?: unknown }).type ?? guard.name;
    return typeof named === 'string' && named !== '' ? named.replace(/^xstate\./, '') : 'guard';
  }
  return 'guard';
}

/** `100 ms`, `10 s`, `5 min`: a delay for a label. */
export function formatDelay(ms: number): string {
  if (!Number.isFinite(ms)) return '∞';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${+(ms / 1000).toFixed(1)} s`;
  return `${+(ms / 60_000).toFixed(1)} min`;
}

function delayLabel(machine: AnyStateMachine, delay: unknown): string {
  if (typeof delay === 'number') return formatDelay(delay);
  if (typeof delay === 'string') {
    // A named delay given as a constant (e.g. `destroyTimeout: 10_000`) is worth printing.
    const value = (machine.implementations.delays as Record<string, unknown>)[delay];
    return typeof value === 'number' ? `${delay} (${formatDelay(value)})` : delay;
  }
  return 'delay';
}

function trigger(
  machine: AnyStateMachine,
  node: StateNodeView,
  eventType: string,
  transition: TransitionView,
): ChartTrigger {
  let kind: ChartTransitionKind = 'event';
  let text = eventType;
  const delayed = node.after.find((t) => t.eventType === eventType);
  if (delayed !== undefined) {
    kind = 'after';
    text = `after ${delayLabel(machine, delayed.delay)}`;
  } else if (eventType.startsWith('xstate.done.actor.')) {
    kind = 'done';
    text = `done: ${eventType.slice('xstate.done.actor.'.length)}`;
  } else if (eventType.startsWith('xstate.error.actor.')) {
    kind = 'error';
    text = `error: ${eventType.slice('xstate.error.actor.'.length)}`;
  } else if (eventType === '') {
    kind = 'always';
    text = 'always';
  }
  const guard = guardName(transition.guard);
  return { kind, label: guard === undefined ? text : `${text} [${guard}]`, eventType };
}

/** The statechart of `machine`, states in document order (parents before children). */
export function chartGraph(machine: AnyStateMachine): ChartGraph {
  const states: ChartState[] = [];
  const transitions: ChartTransition[] = [];
  const visit = (node: StateNodeView, parent: StateNodeView | undefined): void => {
    const path = pathOf(node);
    const state: ChartState = {
      path,
      key: parent === undefined ? machine.id : node.key,
      type: node.type,
      parent: parent === undefined ? null : pathOf(parent),
      initial: node.type === 'compound' && node.initial?.target[0] !== undefined ? pathOf(node.initial.target[0]) : null,
      invokes: node.invoke.map((i) => i.id),
      internal: [],
    };
    states.push(state);
    const all: Array<[string, TransitionView]> = [];
    for (const [eventType, list] of node.transitions) for (const t of list) all.push([eventType, t]);
    for (const t of node.always ?? []) all.push(['', t]);
    for (const [eventType, t] of all) {
      const trig = trigger(machine, node, eventType, t);
      const targets = t.target ?? [];
      if (targets.length === 0) {
        state.internal.push(trig);
        continue;
      }
      for (const target of targets) {
        transitions.push({
          ...trig,
          id: `${path}→${pathOf(target)}#${transitions.length}`,
          source: path,
          target: pathOf(target),
          reenter: t.reenter,
        });
      }
    }
    for (const child of Object.values(node.states)) visit(child, node);
  };
  visit(machine.root as unknown as StateNodeView, undefined);
  return { machine: machine.id, states, transitions };
}
