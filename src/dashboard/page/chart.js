// @ts-check
/**
 * Draws one statechart at a time in SVG from its precomputed layout (charts.json), and marks
 * a live actor on it: its active states, the transitions it can take now, and its pending
 * timers with the time left. The SVG of each chart is built once and kept; marking an actor
 * only toggles classes and rewrites a few labels.
 *
 * The one subtlety: a pending `after` timer is matched to its transition by the event XState
 * schedules for it (`xstate.after.<delay>.<state id>`), which the layout records per
 * transition; nothing here knows a state's name.
 */
import { formatMs, withAncestors } from './format.js';

/** @typedef {import('../chart-types.js').ChartLayout} ChartLayout */
/** @typedef {import('../chart-types.js').Point} Point */
/** @typedef {import('../protocol.js').PendingTimer} PendingTimer */

const SVG = 'http://www.w3.org/2000/svg';

/**
 * @param {string} tag
 * @param {Record<string, string | number>} attrs
 * @param {string} [text]
 * @returns {SVGElement}
 */
function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** @param {Point[]} points */
const pathData = (points) => points.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${x} ${y}`).join(' ');

/**
 * What one drawn chart keeps to mark an actor on it.
 * @typedef {{
 *   layout: ChartLayout,
 *   root: SVGSVGElement,
 *   states: Map<string, SVGElement>,
 *   edges: { source: string, group: SVGElement }[],
 *   timed: { eventType: string, text: SVGElement, label: string, bg: SVGElement | null }[],
 * }} DrawnChart
 */

export class ChartView {
  /** @param {HTMLElement} container */
  constructor(container) {
    this.container = container;
    /** @type {Map<string, ChartLayout>} */
    this.layouts = new Map();
    /** @type {Map<string, DrawnChart>} */
    this.drawn = new Map();
    /** @type {DrawnChart | undefined} */
    this.current = undefined;
    /** The state last scrolled into view. @type {string | undefined} */
    this.revealed = undefined;
    /** null: fit to the panel */
    /** @type {number | null} */
    this.scale = null;
    new ResizeObserver(() => this.applyScale()).observe(container);
  }

  /** @param {ChartLayout[]} layouts */
  setLayouts(layouts) {
    for (const layout of layouts) this.layouts.set(layout.machine, layout);
  }

  /** @returns {string[]} the machines there is a chart for */
  machines() {
    return [...this.layouts.keys()];
  }

  /** @param {string | null} machine */
  show(machine) {
    const layout = machine === null ? undefined : this.layouts.get(machine);
    if (layout === undefined) {
      this.current = undefined;
      this.container.replaceChildren();
      return;
    }
    if (this.current?.layout === layout) return;
    let drawn = this.drawn.get(layout.machine);
    if (drawn === undefined) {
      drawn = this.draw(layout);
      this.drawn.set(layout.machine, drawn);
    }
    this.current = drawn;
    this.revealed = undefined;
    this.container.replaceChildren(drawn.root);
    this.applyScale();
  }

  /** @param {number | null} scale null: fit */
  zoom(scale) {
    this.scale = scale;
    this.applyScale();
  }

  /** @param {number} factor */
  zoomBy(factor) {
    this.zoom(Math.min(3, Math.max(0.2, this.effectiveScale() * factor)));
  }

  effectiveScale() {
    const c = this.current;
    if (c === undefined) return 1;
    if (this.scale !== null) return this.scale;
    const w = this.container.clientWidth - 4;
    const h = this.container.clientHeight - 4;
    if (w <= 0 || h <= 0) return 1;
    // Below 0.7 the 11 px labels become unreadable: scroll instead.
    return Math.min(1.25, Math.max(0.7, Math.min(w / c.layout.width, h / c.layout.height)));
  }

  applyScale() {
    const c = this.current;
    if (c === undefined) return;
    const s = this.effectiveScale();
    c.root.setAttribute('width', String(Math.round(c.layout.width * s)));
    c.root.setAttribute('height', String(Math.round(c.layout.height * s)));
  }

  /**
   * @param {ChartLayout} layout
   * @returns {DrawnChart}
   */
  draw(layout) {
    const t = layout.text;
    const root = /** @type {SVGSVGElement} */ (
      svg('svg', { class: 'chart', viewBox: `0 0 ${layout.width} ${layout.height}`, 'data-machine': layout.machine })
    );
    const defs = svg('defs', {});
    const marker = svg('marker', { id: `arrow-${layout.machine}`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
    marker.append(svg('path', { d: 'M0 0 L10 5 L0 10 z', fill: '#6b7280' }));
    defs.append(marker);
    root.append(defs);
    /** @type {Map<string, SVGElement>} */
    const states = new Map();
    /** @type {DrawnChart['timed']} */
    const timed = [];
    for (const s of layout.states) {
      const g = svg('g', { class: `state ${s.type}${s.parent === null ? ' root' : ''}`, 'data-path': s.path });
      g.append(svg('rect', { class: 'outer', x: s.x, y: s.y, width: s.width, height: s.height, rx: 6 }));
      g.append(svg('text', { class: 'name', x: s.x + 8, y: s.y + t.headerHeightPx - 7 }, s.key));
      let line = 0;
      const lineY = () => s.y + t.headerHeightPx + line * t.lineHeightPx + t.fontSizePx - 1;
      for (const id of s.invokes) {
        g.append(svg('text', { class: 'line', x: s.x + 10, y: lineY() }, `invoke ${id}`));
        line++;
      }
      for (const internal of s.internal) {
        const text = svg('text', { class: 'line', x: s.x + 10, y: lineY(), 'data-event': internal.eventType }, internal.label);
        g.append(text);
        if (internal.kind === 'after') timed.push({ eventType: internal.eventType, text, label: internal.label, bg: null });
        line++;
      }
      root.append(g);
      states.set(s.path, g);
    }
    for (const m of layout.initials) {
      const g = svg('g', { class: 'initial' });
      g.append(svg('circle', { cx: m.dot.x + m.dot.width / 2, cy: m.dot.y + m.dot.height / 2, r: m.dot.width / 2 }));
      if (m.points.length > 1) g.append(svg('path', { d: pathData(m.points), 'marker-end': `url(#arrow-${layout.machine})` }));
      root.append(g);
    }
    /** @type {DrawnChart['edges']} */
    const edges = [];
    for (const e of layout.transitions) {
      const g = svg('g', { class: `edge ${e.kind}`, 'data-event': e.eventType });
      g.append(svg('path', { d: pathData(e.points), 'marker-end': `url(#arrow-${layout.machine})` }));
      const b = e.labelBox;
      const bg = svg('rect', { class: 'label-bg', x: b.x, y: b.y, width: b.width, height: b.height, rx: 3 });
      const text = svg('text', { x: b.x + 3, y: b.y + b.height / 2 + t.fontSizePx / 2 - 2 }, e.label);
      g.append(bg, text);
      root.append(g);
      edges.push({ source: e.source, group: g });
      if (e.kind === 'after') timed.push({ eventType: e.eventType, text, label: e.label, bg });
    }
    return { layout, root, states, edges, timed };
  }

  /**
   * Marks an actor on the current chart; `undefined`: nothing marked.
   * @param {{ state: string[], timers: PendingTimer[], timeLeft: (t: PendingTimer) => number } | undefined} actor
   */
  mark(actor) {
    const c = this.current;
    if (c === undefined) return;
    const active = actor === undefined ? new Set() : withAncestors(actor.state);
    for (const [path, g] of c.states) g.classList.toggle('active', actor !== undefined && active.has(path));
    for (const e of c.edges) e.group.classList.toggle('from-active', actor !== undefined && active.has(e.source));
    this.markTimers(actor);
    const leaf = actor?.state[0];
    if (leaf !== undefined && leaf !== this.revealed) {
      this.revealed = leaf;
      this.reveal(leaf);
    }
  }

  /**
   * Scrolls the chart so that a state is in view (when zoomed beyond the panel).
   * @param {string} path
   */
  reveal(path) {
    const c = this.current;
    const s = c?.layout.states.find((st) => st.path === path);
    if (c === undefined || s === undefined) return;
    const k = this.effectiveScale();
    const box = this.container;
    const left = s.x * k;
    const top = s.y * k;
    if (left < box.scrollLeft || left + s.width * k > box.scrollLeft + box.clientWidth) box.scrollLeft = left - box.clientWidth / 3;
    if (top < box.scrollTop || top + s.height * k > box.scrollTop + box.clientHeight) box.scrollTop = top - box.clientHeight / 3;
  }

  /**
   * Rewrites the countdowns only (called a few times a second).
   * @param {{ timers: PendingTimer[], timeLeft: (t: PendingTimer) => number } | undefined} actor
   */
  markTimers(actor) {
    const c = this.current;
    if (c === undefined) return;
    const pending = new Map((actor?.timers ?? []).map((t) => [t.event, t]));
    const charW = c.layout.text.charWidthPx;
    for (const item of c.timed) {
      const timer = pending.get(item.eventType);
      const text = timer === undefined || actor === undefined ? item.label : `${item.label} · ${formatMs(actor.timeLeft(timer))}`;
      if (item.text.textContent !== text) item.text.textContent = text;
      item.text.classList.toggle('pending', timer !== undefined);
      if (item.bg !== null) item.bg.setAttribute('width', String(Math.ceil(text.length * charW) + 6));
    }
  }
}
