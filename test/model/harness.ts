/**
 * Model-based testing over xstate/graph, for machines with `after` and `invoke` (which
 * createTestModel refuses): the graph is traversed on the machine's pure transition
 * function, then every path is replayed against a running actor on a SimulatedClock, the
 * actor's state is compared with the model's after each step, and invariants are checked.
 *
 * Paths: the shortest path to each state, extended by each of that state's outgoing events,
 * so every edge of the reachable graph is walked once. Coverage is measured on the running
 * actors (inspection microsteps), against every state node and transition of the machine.
 */
import {
  SimulatedClock,
  createActor,
  createEmptyActor,
  fromCallback,
  type AnyActorRef,
  type AnyEventObject,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type AnyStateNode,
  type AnyTransitionDefinition,
  type InspectionEvent,
} from 'xstate';
import { getAdjacencyMap, getShortestPaths } from 'xstate/graph';

export interface System {
  /** The actor whose machine is under test. */
  target: AnyActorRef;
  /** Extra checks after each step (meaningful invariants, not tautologies). */
  check?(snapshot: AnyMachineSnapshot): void;
  stop(): void;
}

export interface ModelSpec {
  name: string;
  machine: AnyStateMachine;
  input?: unknown;
  /** Payload variants for the events that need them; others are sent as `{ type }`. */
  events(snapshot: AnyMachineSnapshot): AnyEventObject[];
  /** Leave out events the environment can never send in this state. */
  filterEvents?(snapshot: AnyMachineSnapshot, event: AnyEventObject): boolean;
  /** Must collapse unbounded context (ids, counters) so the graph is finite. */
  serialize(snapshot: AnyMachineSnapshot): string;
  /** Starts a running system on `clock`, inspected by `inspect`. */
  start(clock: SimulatedClock, inspect: (event: InspectionEvent) => void): System;
  /** Performs a step the test cannot just `send` (resolving an effect). Return true if handled. */
  perform?(event: AnyEventObject, system: System): boolean | Promise<boolean>;
}

export interface ModelReport {
  name: string;
  paths: number;
  steps: number;
  states: { covered: number; total: number; missing: string[] };
  transitions: { covered: number; total: number; missing: string[] };
}

function allStateNodes(node: AnyStateNode): AnyStateNode[] {
  return [node, ...Object.values(node.states).flatMap((child) => allStateNodes(child as AnyStateNode))];
}

function transitionKey(t: AnyTransitionDefinition): string {
  const source = t.source as AnyStateNode;
  const list: readonly AnyTransitionDefinition[] =
    t.eventType === '' ? (source.always ?? []) : (source.transitions.get(t.eventType) ?? []);
  return `${source.id} --${t.eventType || '(always)'}#${list.indexOf(t)}-->`;
}

function allTransitionKeys(machine: AnyStateMachine): string[] {
  const keys: string[] = [];
  for (const node of allStateNodes(machine.root)) {
    for (const [eventType, list] of node.transitions) {
      list.forEach((_t, i) => keys.push(`${node.id} --${eventType}#${i}-->`));
    }
    (node.always ?? []).forEach((_t, i) => keys.push(`${node.id} --(always)#${i}-->`));
  }
  return keys;
}

/** The delay (ms) of the delayed transition `eventType`, resolved for `snapshot`. */
function delayOf(machine: AnyStateMachine, snapshot: AnyMachineSnapshot, eventType: string): number {
  for (const node of snapshot._nodes as AnyStateNode[]) {
    const t = node.transitions.get(eventType)?.[0] as (AnyTransitionDefinition & { delay?: unknown }) | undefined;
    if (t === undefined || t.delay === undefined) continue;
    if (typeof t.delay === 'number') return t.delay;
    const impl = (machine.implementations.delays as Record<string, unknown>)[String(t.delay)];
    if (typeof impl === 'number') return impl;
    if (typeof impl === 'function') return impl({ context: snapshot.context, event: { type: eventType } }) as number;
  }
  throw new Error(`no delayed transition ${eventType} is active`);
}

/** Fires exactly the pending timer of `delay` ms (test configs keep delays distinct). */
function fireTimer(clock: SimulatedClock, delay: number): void {
  const timeouts = (clock as unknown as { timeouts: Map<number, { start: number; timeout: number }> }).timeouts;
  let due: number | undefined;
  for (const t of timeouts.values()) {
    if (t.timeout === delay && (due === undefined || t.start + t.timeout < due)) due = t.start + t.timeout;
  }
  if (due === undefined) throw new Error(`no pending timer of ${delay} ms`);
  clock.set(Math.max(due, clock.now()));
}

async function settle(target: AnyActorRef, serialize: (s: AnyMachineSnapshot) => string, expected: string) {
  // Effects resolve through promises: let them run, then compare. Bounded, not a sleep:
  // it returns as soon as the actor reaches the expected state.
  for (let i = 0; i < 50; i++) {
    if (serialize(target.getSnapshot() as AnyMachineSnapshot) === expected) return;
    await Promise.resolve();
  }
}

/**
 * xstate/graph traverses with a mock actor scope whose `self` has no parent, so any
 * `sendParent` throws. This view of the machine traverses with a `self` that has one (its
 * sends are deferred, and the mock scope drops deferred work, so nothing is delivered).
 */
function traversable(machine: AnyStateMachine): AnyStateMachine {
  const self = createActor(fromCallback(() => {}), { parent: createEmptyActor() });
  type Scope = { self: AnyActorRef };
  return new Proxy(machine, {
    get(target, property, receiver) {
      if (property === 'transition') {
        return (snapshot: unknown, event: unknown, scope: Scope) =>
          (target.transition as (...a: unknown[]) => unknown)(snapshot, event, { ...scope, self });
      }
      if (property === 'getInitialSnapshot') {
        return (scope: Scope, input: unknown) =>
          (target.getInitialSnapshot as (...a: unknown[]) => unknown)({ ...scope, self }, input);
      }
      return Reflect.get(target, property, receiver) as unknown;
    },
  });
}

/**
 * The events to try in a state: every event type an active state node handles, with the
 * spec's payload variants where it gives some. (xstate/graph does this merge itself only when
 * no `events` option is given.)
 */
function eventsFor(spec: ModelSpec, snapshot: AnyMachineSnapshot): AnyEventObject[] {
  const variants = spec.events(snapshot);
  const types = new Set<string>();
  for (const node of snapshot._nodes as AnyStateNode[]) for (const type of node.transitions.keys()) types.add(type);
  return [...types].flatMap((type) => {
    const matching = variants.filter((e) => e.type === type);
    return matching.length > 0 ? matching : [{ type }];
  });
}

export async function runModel(spec: ModelSpec): Promise<ModelReport> {
  const options = {
    events: (snapshot: AnyMachineSnapshot) => eventsFor(spec, snapshot),
    ...(spec.filterEvents === undefined ? {} : { filterEvents: spec.filterEvents }),
    serializeState: (s: AnyMachineSnapshot) => spec.serialize(s),
    input: spec.input,
  };
  // xstate/graph's options are typed per machine; these generic ones fit every machine here.
  const opts = options as unknown as NonNullable<Parameters<typeof getShortestPaths<AnyStateMachine>>[1]>;
  const graphMachine = traversable(spec.machine);
  const adjacency = getAdjacencyMap(graphMachine, opts);
  const shortest = getShortestPaths(graphMachine, opts);
  const pathTo = new Map(shortest.map((p) => [spec.serialize(p.state as AnyMachineSnapshot), p]));

  const coveredStates = new Set<string>();
  const coveredTransitions = new Set<string>();
  let paths = 0;
  let steps = 0;

  for (const [stateKey, entry] of Object.entries(adjacency)) {
    const head = pathTo.get(stateKey);
    if (head === undefined) continue;
    type Step = { state: unknown; event: unknown };
    const tails: Step[] = Object.values(entry.transitions);
    const headSteps: Step[] = head.steps;
    const variants: Step[][] = tails.length === 0 ? [headSteps] : tails.map((t) => [...headSteps, t]);
    for (const path of variants) {
      paths++;
      const clock = new SimulatedClock();
      let target: AnyActorRef | undefined;
      const system = spec.start(clock, (event) => {
        if (event.type !== '@xstate.microstep' || event.actorRef !== target) return;
        for (const t of event._transitions) coveredTransitions.add(transitionKey(t));
        // Transient states (left by an eventless transition) show only in microsteps.
        for (const node of (event.snapshot as AnyMachineSnapshot)._nodes as AnyStateNode[]) coveredStates.add(node.id);
      });
      target = system.target;
      try {
        for (const [i, step] of path.entries()) {
          const expected = spec.serialize(step.state as AnyMachineSnapshot);
          const event = step.event as AnyEventObject;
          if (i > 0) {
            steps++;
            const before = target.getSnapshot() as AnyMachineSnapshot;
            if (event.type.startsWith('xstate.after.')) {
              fireTimer(clock, delayOf(spec.machine, before, event.type));
            } else if (!(await spec.perform?.(event, system))) {
              target.send(event);
            }
            await settle(target, spec.serialize, expected);
          }
          const actual = target.getSnapshot() as AnyMachineSnapshot;
          const got = spec.serialize(actual);
          if (got !== expected) {
            const trail = path.slice(1, i + 1).map((s) => (s.event as AnyEventObject).type).join(' → ');
            throw new Error(`${spec.name}: after [${trail}] the actor is ${got}, the model says ${expected}`);
          }
          for (const node of actual._nodes as AnyStateNode[]) coveredStates.add(node.id);
          system.check?.(actual);
        }
      } finally {
        system.stop();
      }
    }
  }

  const stateIds = allStateNodes(spec.machine.root).map((n) => n.id);
  const transitionKeys = allTransitionKeys(spec.machine);
  return {
    name: spec.name,
    paths,
    steps,
    states: {
      covered: stateIds.filter((id) => coveredStates.has(id)).length,
      total: stateIds.length,
      missing: stateIds.filter((id) => !coveredStates.has(id)),
    },
    transitions: {
      covered: transitionKeys.filter((k) => coveredTransitions.has(k)).length,
      total: transitionKeys.length,
      missing: transitionKeys.filter((k) => !coveredTransitions.has(k)),
    },
  };
}

/** Merges reports of several runs of one machine (e.g. different inputs). */
export function mergeReports(name: string, reports: ModelReport[]): ModelReport {
  const missingStates = reports.map((r) => new Set(r.states.missing));
  const missingTransitions = reports.map((r) => new Set(r.transitions.missing));
  const first = reports[0];
  if (first === undefined) throw new Error('no reports');
  const stillMissing = (sets: Set<string>[]) => [...(sets[0] ?? [])].filter((x) => sets.every((s) => s.has(x)));
  const ms = stillMissing(missingStates);
  const mt = stillMissing(missingTransitions);
  return {
    name,
    paths: reports.reduce((n, r) => n + r.paths, 0),
    steps: reports.reduce((n, r) => n + r.steps, 0),
    states: { covered: first.states.total - ms.length, total: first.states.total, missing: ms },
    transitions: { covered: first.transitions.total - mt.length, total: first.transitions.total, missing: mt },
  };
}

export function formatReport(r: ModelReport): string {
  return (
    `${r.name}: ${r.paths} generated paths (${r.steps} steps); ` +
    `states ${r.states.covered}/${r.states.total}, transitions ${r.transitions.covered}/${r.transitions.total}`
  );
}
