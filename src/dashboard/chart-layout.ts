/**
 * Lays out a statechart with elkjs (the layered algorithm the Stately tools use): nested
 * states as nested boxes, transitions as routed edges with their labels. Runs at build time
 * (`npm run dashboard:generate` writes `generated/chart-layouts.ts`), and at run time only as
 * a development fallback when the shipped layout is stale and elkjs is installed: elkjs is a
 * devDependency (1.6 MB minified, EPL/GPL licensed) that the published package does not need.
 *
 * The subtlety: with hierarchy handled in one pass (`INCLUDE_CHILDREN`), ELK reports edge
 * coordinates relative to varying containers unless told otherwise; `elk.json.shapeCoords`
 * and `elk.json.edgeCoords` = `ROOT` make every coordinate absolute, which is what the page
 * draws in one SVG.
 */
import { createHash } from 'node:crypto';
import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api.js';
import {
  CHART_TEXT,
  type Box,
  type ChartGraph,
  type ChartLayout,
  type ChartState,
  type InitialMarker,
  type LaidOutState,
  type LaidOutTransition,
  type Point,
} from './chart-types.js';

/** Bump when the layout code or options change: it makes every shipped layout stale. */
export const LAYOUT_VERSION = 1;

const PAD = 12;
const DOT = 10;

const LAYOUT_OPTIONS: Record<string, string> = {
  'elk.algorithm': 'layered',
  'elk.direction': 'DOWN',
  'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
  'elk.json.shapeCoords': 'ROOT',
  'elk.json.edgeCoords': 'ROOT',
  'elk.edgeRouting': 'ORTHOGONAL',
  'elk.layered.spacing.nodeNodeBetweenLayers': '36',
  'elk.spacing.nodeNode': '28',
  'elk.spacing.edgeLabel': '4',
  'elk.layered.spacing.edgeNodeBetweenLayers': '16',
  'elk.edgeLabels.placement': 'CENTER',
  'elk.layered.nodePlacement.strategy': 'NETWORK_SIMPLEX',
  'elk.layered.crossingMinimization.forceNodeModelOrder': 'false',
  'elk.randomSeed': '1',
};

/** Identifies a graph together with the layout code: equal fingerprints, equal layouts. */
export function fingerprint(graph: ChartGraph): string {
  return createHash('sha256')
    .update(JSON.stringify({ LAYOUT_VERSION, LAYOUT_OPTIONS, CHART_TEXT, graph }))
    .digest('hex')
    .slice(0, 16);
}

const textWidth = (text: string): number => Math.ceil(text.length * CHART_TEXT.charWidthPx);

/** The lines printed under a state's name (as chart.js draws them): invokes, then targetless transitions. */
function stateLines(state: ChartState): string[] {
  return [...state.invokes.map((id) => `invoke ${id}`), ...state.internal.map((t) => t.label)];
}

function headerHeight(state: ChartState): number {
  return CHART_TEXT.headerHeightPx + stateLines(state).length * CHART_TEXT.lineHeightPx;
}

function ownWidth(state: ChartState): number {
  const widest = Math.max(textWidth(state.key) + 8, ...stateLines(state).map(textWidth));
  return Math.max(72, widest + 2 * PAD);
}

const round = (n: number): number => Math.round(n * 10) / 10;

/** The elkjs constructor, loaded on demand (it is a devDependency). */
async function loadElk(): Promise<new () => { layout(graph: ElkNode): Promise<ElkNode> }> {
  const module = (await import('elkjs/lib/elk.bundled.js')) as unknown as { default: new () => { layout(graph: ElkNode): Promise<ElkNode> } };
  return module.default;
}

export async function layoutChart(graph: ChartGraph): Promise<ChartLayout> {
  const children = new Map<string | null, ChartState[]>();
  for (const s of graph.states) {
    const list = children.get(s.parent) ?? [];
    list.push(s);
    children.set(s.parent, list);
  }
  const nodeId = (path: string): string => `s:${path}`;
  const dotId = (path: string): string => `i:${path}`;

  const toElk = (state: ChartState): ElkNode => {
    const kids = children.get(state.path) ?? [];
    const lines = headerHeight(state);
    if (kids.length === 0) {
      return { id: nodeId(state.path), width: ownWidth(state), height: lines + 8 };
    }
    const inner: ElkNode[] = kids.map(toElk);
    if (state.initial !== null) inner.unshift({ id: dotId(state.path), width: DOT, height: DOT });
    return {
      id: nodeId(state.path),
      children: inner,
      layoutOptions: {
        'elk.padding': `[top=${lines + 6},left=${PAD},bottom=${PAD},right=${PAD}]`,
        'elk.nodeSize.constraints': 'MINIMUM_SIZE',
        'elk.nodeSize.minimum': `(${ownWidth(state)},${lines + 24})`,
      },
    };
  };

  const edges: ElkExtendedEdge[] = graph.transitions.map((t) => ({
    id: t.id,
    sources: [nodeId(t.source)],
    targets: [nodeId(t.target)],
    labels: [{ text: t.label, width: textWidth(t.label) + 6, height: CHART_TEXT.lineHeightPx }],
  }));
  for (const s of graph.states) {
    if (s.initial !== null) edges.push({ id: `init:${s.path}`, sources: [dotId(s.path)], targets: [nodeId(s.initial)] });
  }
  const root = graph.states.find((s) => s.parent === null);
  if (root === undefined) throw new Error(`chart ${graph.machine} has no root state`);
  const Elk = await loadElk();
  const laid = await new Elk().layout({
    id: 'graph',
    layoutOptions: { ...LAYOUT_OPTIONS, 'elk.padding': '[top=8,left=8,bottom=8,right=8]' },
    children: [toElk(root)],
    edges,
  });

  const boxes = new Map<string, Box>();
  const collect = (node: ElkNode): void => {
    boxes.set(node.id, {
      x: round(node.x ?? 0),
      y: round(node.y ?? 0),
      width: round(node.width ?? 0),
      height: round(node.height ?? 0),
    });
    for (const child of node.children ?? []) collect(child);
  };
  for (const child of laid.children ?? []) collect(child);
  const edgeOut = new Map<string, { points: Point[]; label: Box | undefined }>();
  for (const e of laid.edges ?? []) {
    const points: Point[] = [];
    for (const section of e.sections ?? []) {
      points.push([round(section.startPoint.x), round(section.startPoint.y)]);
      for (const b of section.bendPoints ?? []) points.push([round(b.x), round(b.y)]);
      points.push([round(section.endPoint.x), round(section.endPoint.y)]);
    }
    const l = e.labels?.[0];
    const label =
      l === undefined
        ? undefined
        : { x: round(l.x ?? 0), y: round(l.y ?? 0), width: round(l.width ?? 0), height: round(l.height ?? 0) };
    edgeOut.set(e.id, { points, label });
  }

  const boxOf = (id: string): Box => {
    const box = boxes.get(id);
    if (box === undefined) throw new Error(`elk returned no box for ${id}`);
    return box;
  };
  const states: LaidOutState[] = graph.states.map((s) => ({ ...s, ...boxOf(nodeId(s.path)) }));
  const transitions: LaidOutTransition[] = graph.transitions.map((t) => {
    const out = edgeOut.get(t.id);
    const points = out?.points ?? [];
    const mid = points[Math.floor(points.length / 2)] ?? [0, 0];
    return {
      ...t,
      points,
      labelBox: out?.label ?? { x: mid[0], y: mid[1], width: textWidth(t.label), height: CHART_TEXT.lineHeightPx },
    };
  });
  const initials: InitialMarker[] = graph.states
    .filter((s): s is ChartState & { initial: string } => s.initial !== null)
    .map((s) => ({
      parent: s.path,
      target: s.initial,
      dot: boxOf(dotId(s.path)),
      points: edgeOut.get(`init:${s.path}`)?.points ?? [],
    }));
  const width = Math.max(...states.map((s) => s.x + s.width)) + 8;
  const height = Math.max(...states.map((s) => s.y + s.height)) + 8;
  return {
    machine: graph.machine,
    fingerprint: fingerprint(graph),
    width: round(width),
    height: round(height),
    states,
    transitions,
    initials,
    text: CHART_TEXT,
  };
}
