/**
 * Model-based testing over xstate/graph, for machines with delayed transitions (which
 * createTestModel cannot drive): the graph is traversed on the machine's pure transition
 * function, then every path is replayed against a running actor on a SimulatedClock, the
 * actor's state is compared with the model's after each step, and invariants are checked.
 *
 * Paths: the shortest path to each state, extended by each of that state's outgoing events,
 * so every edge of the reachable graph is walked (the edges of the shortest paths themselves
 * need no path of their own). The subtlety: a serialized state stands for many snapshots (ids,
 * epochs and counters are left out to keep the graph finite), and getShortestPaths joins a step
 * computed from one of them to events computed from another. A payload built from the snapshot
 * (a child's id, the current epoch) must be replayed on the very snapshot it was built from, so
 * the paths here follow the adjacency map's own discovery (breadth-first, hence shortest): each
 * state's representative snapshot is exactly the one its discovery path reaches.
 *
 * What the environment knows and the machine does not (which child connection is open, say)
 * is an optional `environment`, advanced with each step beside the machine, on the graph and on
 * the running actor alike. Coverage is measured on the running actors (inspection microsteps),
 * against every state node and transition of the machine.
 */
import {
  SimulatedClock,
  type AnyActorRef,
  type AnyEventObject,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type AnyStateNode,
  type AnyTransitionDefinition,
  type InspectionEvent,
} from 'xstate';
import { getAdjacencyMap } from 'xstate/graph';
import { expect } from 'vitest';

/**
 * Invariant checks for the hot loop: they run after every one of tens of thousands of steps,
 * where `expect` alone costs more than the step, so `expect` runs only to report a failure.
 */
export function holds(condition: boolean, what: string | (() => string)): void {
  if (!condition) expect.fail(typeof what === 'string' ? what : what());
}

/** `actual` is `expected` (Object.is), reported with `expect`'s diff when it is not. */
export function same<T>(actual: T, expected: T, what: string | (() => string)): void {
  if (!Object.is(actual, expected)) expect(actual, typeof what === 'string' ? what : what()).toBe(expected);
}

export interface System<E = undefined> {
  /** The actor whose machine is under test. */
  target: AnyActorRef;
  /**
   * Invariants after each step (meaningful ones, not tautologies). `event` is the step's event
   * (a delayed one included), undefined for the initial state.
   */
  check?(snapshot: AnyMachineSnapshot, event: AnyEventObject | undefined, env: E): void;
  stop(): void;
}

/** State of the environment the machine does not hold, advanced with each step. Immutable. */
export interface Environment<E> {
  initial: E;
  /** The environment once `event` has led the machine to `after`; `env` itself if unchanged. */
  next(env: E, event: AnyEventObject, after: AnyMachineSnapshot): E;
}

export interface ModelSpec<E = undefined> {
  name: string;
  /** The machine traversed and run (provide the same implementations to both). */
  machine: AnyStateMachine;
  input?: unknown;
  /** Required when E is not undefined. */
  environment?: Environment<E>;
  /**
   * The events the environment may send (payload variants included), handled or not; event
   * types the state handles and this leaves out are tried as `{ type }`.
   */
  events(snapshot: AnyMachineSnapshot, env: E): AnyEventObject[];
  /** Leave out events the environment can never send in this state. */
  filterEvents?(snapshot: AnyMachineSnapshot, event: AnyEventObject, env: E): boolean;
  /** Must collapse unbounded context (ids, counters, epochs) so the graph is finite. */
  serialize(snapshot: AnyMachineSnapshot, env: E): string;
  /** Starts a running system on `clock`, inspected by `inspect`. */
  start(clock: SimulatedClock, inspect: (event: InspectionEvent) => void): System<E>;
}

export interface ModelReport {
  name: string;
  /** Distinct states of the model (serialized). */
  graphStates: number;
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

interface ScheduledEvent {
  source: AnyActorRef;
  event: AnyEventObject;
  delay: number;
}

/** XState keeps an actor system's pending delayed events in `system._snapshot._scheduledEvents`. */
function scheduledEvents(actor: AnyActorRef): ScheduledEvent[] {
  const system = actor.system as unknown as { _snapshot: { _scheduledEvents: Record<string, ScheduledEvent> } };
  return Object.values(system._snapshot._scheduledEvents);
}

/** The pending delayed events of `actor` itself: their types and delays (ms). */
export function pendingTimers(actor: AnyActorRef): { type: string; delay: number }[] {
  return scheduledEvents(actor)
    .filter((e) => e.source === actor)
    .map((e) => ({ type: e.event.type, delay: e.delay }));
}

interface ClockTimer {
  start: number;
  timeout: number;
  fn: () => void;
}

/**
 * Fires exactly the pending delayed event `eventType` of `source`, through its own clock timer,
 * and no other (SimulatedClock.set would also fire every timer due earlier). XState schedules
 * every delayed event of a system with one clock.setTimeout, right after recording it in the
 * system's `_scheduledEvents`, and both forget it together (fired or cancelled), so the two
 * lists correspond one to one, in order; the delays are compared to make sure.
 */
function fireTimer(clock: SimulatedClock, source: AnyActorRef, eventType: string): void {
  const scheduled = scheduledEvents(source);
  const internals = clock as unknown as { timeouts: Map<number, ClockTimer>; _now: number };
  const timers = [...internals.timeouts];
  if (scheduled.length !== timers.length) {
    throw new Error(`${scheduled.length} delayed events but ${timers.length} clock timers`);
  }
  const i = scheduled.findIndex((e) => e.source === source && e.event.type === eventType);
  const entry = timers[i];
  if (i < 0 || entry === undefined) throw new Error(`no pending timer for ${eventType}`);
  const [id, timer] = entry;
  if (timer.timeout !== scheduled[i]?.delay) throw new Error(`timer ${i} is not the one of ${eventType}`);
  internals.timeouts.delete(id);
  internals._now = Math.max(internals._now, timer.start + timer.timeout);
  timer.fn();
}

/**
 * The machine as the graph traverses it. xstate/graph's mock scope has an empty actor as
 * `self`; actions that read their own actor's children (`self.getSnapshot().children`, as the
 * manager's default shutdownChildren does) need a `self` whose snapshot is the one being
 * transitioned, as a running actor's is. It has no parent, like a machine run alone. Each
 * snapshot it makes gets its environment in `envOf`.
 */
function traversable<E>(spec: ModelSpec<E>, envOf: WeakMap<object, { env: E }>): AnyStateMachine {
  type Scope = { self: AnyActorRef };
  const withSelf = (scope: Scope, snapshot: unknown): Scope => ({
    ...scope,
    self: new Proxy(scope.self, {
      get: (target, property, receiver) =>
        property === 'getSnapshot' ? () => snapshot : (Reflect.get(target, property, receiver) as unknown),
    }),
  });
  const environment = spec.environment;
  return new Proxy(spec.machine, {
    get(target, property, receiver) {
      if (property === 'transition') {
        return (snapshot: AnyMachineSnapshot, event: AnyEventObject, scope: Scope) => {
          const next = (target.transition as (...a: unknown[]) => AnyMachineSnapshot)(snapshot, event, withSelf(scope, snapshot));
          if (environment !== undefined) {
            const before = envAt(envOf, snapshot);
            const env = environment.next(before, event, next);
            if (next === snapshot && env !== before) throw new Error(`${spec.name}: the environment changed on ${event.type}, which the machine dropped`);
            envOf.set(next, { env });
          }
          return next;
        };
      }
      if (property === 'getInitialSnapshot') {
        return (...args: unknown[]) => {
          const initial = (target.getInitialSnapshot as (...a: unknown[]) => AnyMachineSnapshot)(...args);
          if (environment !== undefined) envOf.set(initial, { env: environment.initial });
          return initial;
        };
      }
      return Reflect.get(target, property, receiver) as unknown;
    },
  });
}

/** The environment of a snapshot the graph made (undefined without an environment). */
function envAt<E>(envOf: WeakMap<object, { env: E }>, snapshot: AnyMachineSnapshot): E {
  const entry = envOf.get(snapshot);
  return (entry === undefined ? undefined : entry.env) as E;
}

/**
 * The events to try in a state: the spec's events (whether or not the state handles them: the
 * environment sends what it sends, and an event the machine drops is a step too), and every
 * other event type an active state node handles, without payload. `filterEvents` keeps what
 * the environment can send in the state. (xstate/graph merges only when no `events` option is
 * given, and then only handled types.)
 */
function eventsFor<E>(spec: ModelSpec<E>, snapshot: AnyMachineSnapshot, env: E): AnyEventObject[] {
  const events = [...spec.events(snapshot, env)];
  const types = new Set(events.map((e) => e.type));
  for (const node of snapshot._nodes as AnyStateNode[]) {
    for (const type of node.transitions.keys()) {
      if (!types.has(type)) events.push({ type });
      types.add(type);
    }
  }
  return events;
}

/** Edges the traversal may follow, per model (xstate/graph's `limit`). */
const TRAVERSAL_LIMIT = 100_000;

interface Step {
  event: AnyEventObject;
  state: AnyMachineSnapshot;
  /** The state serialized (with its environment), once the path is made. */
  key?: string;
}

/** xstate/graph's adjacency map: per serialized state, its first snapshot and its edges by serialized event. */
type Adjacency = Record<string, { state: AnyMachineSnapshot; transitions: Record<string, Step> } | undefined>;

/** Every path to replay: the discovery path of each state, extended by each outgoing edge. */
export function generatePaths<E>(spec: ModelSpec<E>): { graphStates: number; paths: Step[][] } {
  const envOf = new WeakMap<object, { env: E }>();
  const serialize = (s: AnyMachineSnapshot) => spec.serialize(s, envAt(envOf, s));
  const filterEvents = spec.filterEvents;
  const options = {
    events: (s: AnyMachineSnapshot) => eventsFor(spec, s, envAt(envOf, s)),
    ...(filterEvents === undefined ? {} : { filterEvents: (s: AnyMachineSnapshot, e: AnyEventObject) => filterEvents(s, e, envAt(envOf, s)) }),
    serializeState: serialize,
    input: spec.input,
    // A count that grows without bound (a bug, or a serialization that keeps an id) would
    // never end the traversal.
    limit: TRAVERSAL_LIMIT,
  };
  // xstate/graph types its options and map per machine; this view fits every machine here.
  const adjacencyMap = getAdjacencyMap as unknown as (logic: AnyStateMachine, opts: typeof options) => Adjacency;
  const adjacency = adjacencyMap(traversable(spec, envOf), options);
  const keys = Object.keys(adjacency);
  const initialKey = keys[0];
  if (initialKey === undefined) throw new Error(`${spec.name}: empty graph`);
  // A state's representative is the snapshot object the traversal first queued for it, which
  // is the `state` of exactly one transition: that transition is its discovery step.
  const discovery = new Map<string, { from: string; step: Step }>();
  for (const from of keys) {
    for (const t of Object.values(adjacency[from]?.transitions ?? {})) {
      const key = serialize(t.state);
      if (key !== initialKey && !discovery.has(key) && adjacency[key]?.state === t.state) {
        discovery.set(key, { from, step: t });
      }
    }
  }
  const heads = new Map<string, Step[]>();
  const headOf = (key: string): Step[] => {
    const known = heads.get(key);
    if (known !== undefined) return known;
    const d = discovery.get(key);
    if (d === undefined) throw new Error(`${spec.name}: no discovery step for ${key}`);
    const head = [...headOf(d.from), d.step];
    heads.set(key, head);
    return head;
  };
  const initial = adjacency[initialKey]?.state;
  if (initial === undefined) throw new Error(`${spec.name}: no initial state`);
  heads.set(initialKey, [{ event: { type: 'xstate.init' }, state: initial }]);
  // A discovery step is walked by every path of the state it discovers: no path of its own.
  const discoverySteps = new Set([...discovery.values()].map((d) => d.step));
  const paths: Step[][] = [];
  for (const key of keys) {
    const edges = Object.values(adjacency[key]?.transitions ?? {});
    const tails = edges.filter((t) => !discoverySteps.has(t));
    if (edges.length === 0) paths.push(headOf(key));
    for (const tail of tails) paths.push([...headOf(key), tail]);
  }
  return { graphStates: keys.length, paths: paths.map((path) => path.map((step) => ({ ...step, key: serialize(step.state) }))) };
}

export function runModel<E>(spec: ModelSpec<E>): ModelReport {
  const { graphStates, paths } = generatePaths(spec);
  const coveredStates = new Set<string>();
  const coveredTransitions = new Set<string>();
  let steps = 0;

  for (const path of paths) {
    const clock = new SimulatedClock();
    let target: AnyActorRef | undefined;
    const system = spec.start(clock, (event) => {
      if (event.type !== '@xstate.microstep' || event.actorRef !== target) return;
      for (const t of event._transitions) coveredTransitions.add(transitionKey(t));
      // Transient states (left by an eventless transition) show only in microsteps.
      for (const node of (event.snapshot as AnyMachineSnapshot)._nodes as AnyStateNode[]) coveredStates.add(node.id);
    });
    target = system.target;
    let env = spec.environment?.initial as E;
    try {
      for (const [i, step] of path.entries()) {
        const trail = () => path.slice(1, i + 1).map((s) => JSON.stringify(s.event)).join(' → ');
        if (i > 0) {
          steps++;
          try {
            if (step.event.type.startsWith('xstate.after.')) fireTimer(clock, target, step.event.type);
            else target.send(step.event);
          } catch (error) {
            throw new Error(`${spec.name}: step [${trail()}] failed`, { cause: error });
          }
        }
        const actual = target.getSnapshot() as AnyMachineSnapshot;
        if (i > 0 && spec.environment !== undefined) env = spec.environment.next(env, step.event, actual);
        const got = spec.serialize(actual, env);
        if (got !== step.key) throw new Error(`${spec.name}: after [${trail()}] the actor is ${got}, the model says ${step.key}`);
        for (const node of actual._nodes as AnyStateNode[]) coveredStates.add(node.id);
        try {
          system.check?.(actual, i > 0 ? step.event : undefined, env);
        } catch (error) {
          throw new Error(`${spec.name}: invariant broken after [${trail()}] in ${got}`, { cause: error });
        }
      }
    } finally {
      system.stop();
    }
  }

  const stateIds = allStateNodes(spec.machine.root).map((n) => n.id);
  const transitionKeys = allTransitionKeys(spec.machine);
  return {
    name: spec.name,
    graphStates,
    paths: paths.length,
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
  const first = reports[0];
  if (first === undefined) throw new Error('no reports');
  const stillMissing = (sets: Set<string>[]) => [...(sets[0] ?? [])].filter((x) => sets.every((s) => s.has(x)));
  const ms = stillMissing(reports.map((r) => new Set(r.states.missing)));
  const mt = stillMissing(reports.map((r) => new Set(r.transitions.missing)));
  return {
    name,
    graphStates: reports.reduce((n, r) => n + r.graphStates, 0),
    paths: reports.reduce((n, r) => n + r.paths, 0),
    steps: reports.reduce((n, r) => n + r.steps, 0),
    states: { covered: first.states.total - ms.length, total: first.states.total, missing: ms },
    transitions: { covered: first.transitions.total - mt.length, total: first.transitions.total, missing: mt },
  };
}

export function formatReport(r: ModelReport): string {
  const pct = (n: number, total: number) => `${total === 0 ? 100 : Math.floor((100 * n) / total)} %`;
  return (
    `${r.name}: ${r.graphStates} model states, ${r.paths} generated paths (${r.steps} steps); ` +
    `states ${r.states.covered}/${r.states.total} (${pct(r.states.covered, r.states.total)}), ` +
    `transitions ${r.transitions.covered}/${r.transitions.total} (${pct(r.transitions.covered, r.transitions.total)})`
  );
}
