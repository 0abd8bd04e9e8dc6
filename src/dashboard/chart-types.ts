/**
 * The statecharts the dashboard draws, as plain JSON data: what `chart-graph.ts` reads from a
 * machine definition and what `chart-layout.ts` adds coordinates to. Shared with the page
 * (its JSDoc types import this file), so it imports nothing.
 *
 * States are named by their path from the root joined with dots (`running.coolingDown`; the
 * root is `''`), not by XState's ids: a live snapshot's value converts to the same paths
 * without knowing any custom `id` a machine gives its states.
 */

/** How a transition is triggered. */
export type ChartTransitionKind = 'event' | 'after' | 'always' | 'done' | 'error';

/** One transition as drawn: its trigger, guard and (for `after`) the delay's name or value. */
export interface ChartTrigger {
  kind: ChartTransitionKind;
  /** What the page prints: `DEMAND [wantsConnections]`, `after probeDelay`, `always`, `done: create`. */
  label: string;
  /**
   * The event type XState uses for it. For `after`: the delayed event XState schedules
   * (`xstate.after.<delay>.<state id>`), which is how a pending timer is matched to its edge.
   */
  eventType: string;
}

export interface ChartState {
  /** Dot-joined path from the root; `''` for the root. */
  path: string;
  /** The state's own name; the machine's id for the root. */
  key: string;
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** The parent's path; `null` for the root. */
  parent: string | null;
  /** The initial child's path (compound states). */
  initial: string | null;
  /** Invoked actors, by id. */
  invokes: string[];
  /** Transitions without a target (they run actions and stay): listed inside the state. */
  internal: ChartTrigger[];
}

export interface ChartTransition extends ChartTrigger {
  /** Unique within the chart. */
  id: string;
  source: string;
  target: string;
  /** Leaves and enters its source again (restarting its timers). */
  reenter: boolean;
}

/** A machine's statechart, before layout. */
export interface ChartGraph {
  /** The machine's id (`manager`, `pool`, `connection`). */
  machine: string;
  states: ChartState[];
  transitions: ChartTransition[];
}

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export type Point = [number, number];

export interface LaidOutState extends ChartState, Box {}

export interface LaidOutTransition extends ChartTransition {
  /** The edge's polyline, start to end, in chart coordinates. */
  points: Point[];
  /** Where the label goes (its top-left corner and size). */
  labelBox: Box;
}

/** The initial-state marker of a compound state: a dot and its arrow. */
export interface InitialMarker {
  parent: string;
  target: string;
  dot: Box;
  points: Point[];
}

/** A chart with coordinates: what the page draws, in one SVG of `width` x `height`. */
export interface ChartLayout {
  machine: string;
  /** Of the graph and the layout code: the shipped layout is stale when it differs. */
  fingerprint: string;
  width: number;
  height: number;
  states: LaidOutState[];
  transitions: LaidOutTransition[];
  initials: InitialMarker[];
  /** The text metrics the layout assumed (the page draws with the same). */
  text: TextMetrics;
}

export interface TextMetrics {
  fontSizePx: number;
  charWidthPx: number;
  lineHeightPx: number;
  headerHeightPx: number;
}

/** Sizes the layout assumes for text; the page's CSS uses the same (monospace 11 px). */
export const CHART_TEXT: TextMetrics = {
  fontSizePx: 11,
  /** Width of one character of an 11 px monospace font, rounded up. */
  charWidthPx: 6.8,
  lineHeightPx: 16,
  /** The state name's line, at the top of each state. */
  headerHeightPx: 22,
};
