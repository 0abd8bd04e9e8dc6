// @ts-check
/**
 * The list of live actors: the manager, each pool (its state, its timer, its counts on the
 * line below) with its connections indented under it, then the links. Virtualised: only the
 * rows in view exist in the DOM.
 *
 * The one subtlety: the list of lines is rebuilt only when actors come or go (or a pool is
 * folded, or a filter is typed); a change of state only redraws the rows in view.
 */
import { el, formatMs } from './format.js';
import { VirtualList } from './vlist.js';

/** @typedef {import('../protocol.js').ActorRow} ActorRow */
/** @typedef {import('../protocol.js').PendingTimer} PendingTimer */
/** @typedef {import('./model.js').Model} Model */
/** @typedef {{ t: 'actor', sid: string, depth: number } | { t: 'stats', key: string }} Line */

/** px; as `.vlist .row` in style.css */
export const ROW_HEIGHT = 22;

/** @param {string} sid */
const sidNumber = (sid) => Number(sid.replace(/\D/g, '')) || 0;

/** @param {ActorRow} row */
export const stateText = (row) => row.state.join(', ');

export class ActorList {
  /**
   * @param {HTMLElement} container
   * @param {Model} model
   * @param {Map<string, string>} timerLabels an `after` event type → its label
   * @param {{ selected: () => string | null, select: (sid: string) => void }} selection
   */
  constructor(container, model, timerLabels, selection) {
    this.model = model;
    this.timerLabels = timerLabels;
    this.selection = selection;
    /** @type {Line[]} */
    this.lines = [];
    this.builtFor = -1;
    this.filter = '';
    /** @type {Set<string>} pools (ids) whose connections are hidden */
    this.collapsed = new Set();
    this.list = new VirtualList(container, ROW_HEIGHT, (row, index) => this.renderLine(row, index));
    // On press, not click: rows are redrawn (every countdown tick while a timer is pending), and
    // a click whose pressed element was replaced in between never arrives.
    container.addEventListener('mousedown', (event) => {
      if (event.button === 0) this.onPress(event);
    });
  }

  /** @param {string} text */
  setFilter(text) {
    this.filter = text.trim().toLowerCase();
    this.builtFor = -1;
  }

  /** Redraws: rebuilds the lines if actors came or went, then the rows in view. */
  render() {
    if (this.builtFor !== this.model.structure || this.filter !== '') this.rebuild();
    this.list.refresh();
  }

  /** Redraws the rows in view only (countdowns). */
  refresh() {
    this.list.refresh();
  }

  /** @param {string} sid */
  reveal(sid) {
    const index = this.lines.findIndex((l) => l.t === 'actor' && l.sid === sid);
    if (index >= 0) this.list.scrollIntoView(index);
  }

  /** @param {ActorRow} row */
  matches(row) {
    const f = this.filter;
    if (f === '') return true;
    return row.id.toLowerCase().includes(f) || (row.key ?? '').toLowerCase().includes(f) || stateText(row).toLowerCase().includes(f);
  }

  rebuild() {
    /** @type {ActorRow[]} */ const managers = [];
    /** @type {ActorRow[]} */ const pools = [];
    /** @type {ActorRow[]} */ const links = [];
    /** @type {Map<string, ActorRow[]>} */ const children = new Map();
    /** @type {ActorRow[]} */ const orphans = [];
    for (const row of this.model.actors.values()) {
      if (row.kind === 'manager') managers.push(row);
      else if (row.kind === 'pool') pools.push(row);
      else if (row.kind === 'link') links.push(row);
      else if (row.parent !== null) {
        const list = children.get(row.parent) ?? [];
        list.push(row);
        children.set(row.parent, list);
      } else orphans.push(row);
    }
    pools.sort((a, b) => (a.key ?? '').localeCompare(b.key ?? ''));
    links.sort((a, b) => sidNumber(a.sid) - sidNumber(b.sid));
    /** @type {Line[]} */
    const out = [];
    for (const m of managers) if (this.matches(m)) out.push({ t: 'actor', sid: m.sid, depth: 0 });
    for (const p of pools) {
      const kids = (children.get(p.id) ?? []).sort((a, b) => sidNumber(a.sid) - sidNumber(b.sid));
      children.delete(p.id);
      const shownKids = kids.filter((k) => this.matches(k));
      if (!this.matches(p) && shownKids.length === 0) continue;
      out.push({ t: 'actor', sid: p.sid, depth: 0 });
      if (p.key !== null) out.push({ t: 'stats', key: p.key });
      if (!this.collapsed.has(p.id)) for (const k of shownKids) out.push({ t: 'actor', sid: k.sid, depth: 1 });
    }
    // Connections whose pool is not (or no longer) listed.
    for (const list of children.values()) for (const k of list) if (this.matches(k)) out.push({ t: 'actor', sid: k.sid, depth: 1 });
    for (const o of orphans) if (this.matches(o)) out.push({ t: 'actor', sid: o.sid, depth: 0 });
    for (const l of links) if (this.matches(l)) out.push({ t: 'actor', sid: l.sid, depth: 0 });
    this.lines = out;
    this.builtFor = this.model.structure;
    this.list.setCount(out.length);
  }

  /**
   * The pending timer of an actor that fires first, as `label: time left`, or ''.
   * @param {string} sid
   */
  timerText(sid) {
    const model = this.model;
    const timers = model.timers.get(sid);
    if (timers === undefined || timers.length === 0) return '';
    let first = /** @type {PendingTimer} */ (timers[0]);
    for (const t of timers) if (model.timeLeft(t) < model.timeLeft(first)) first = t;
    const label = this.timerLabels.get(first.event) ?? first.event;
    const more = timers.length > 1 ? ` +${timers.length - 1}` : '';
    return `${label}: ${formatMs(model.timeLeft(first))}${more}`;
  }

  /**
   * @param {HTMLElement} rowEl
   * @param {number} index
   */
  renderLine(rowEl, index) {
    const line = this.lines[index];
    if (line === undefined) return;
    if (line.t === 'stats') {
      const stats = this.model.stats.get(line.key);
      rowEl.className = 'row stats';
      rowEl.removeAttribute('data-sid');
      rowEl.removeAttribute('data-id');
      rowEl.removeAttribute('data-kind');
      rowEl.dataset.key = line.key;
      const parts = stats === undefined ? [] : Object.entries(stats).filter(([, v]) => typeof v === 'number').map(([k, v]) => `${k} ${v}`);
      rowEl.textContent = parts.join(' · ');
      rowEl.title = rowEl.textContent;
      return;
    }
    const row = this.model.actors.get(line.sid);
    if (row === undefined) return;
    const selected = line.sid === this.selection.selected();
    rowEl.className = `row actor kind-${row.kind} depth-${line.depth} status-${row.status}${selected ? ' selected' : ''}`;
    rowEl.dataset.sid = row.sid;
    rowEl.dataset.id = row.id;
    rowEl.dataset.kind = row.kind;
    delete rowEl.dataset.key;
    rowEl.title = `${row.id} (${row.kind}) ${stateText(row)}`;
    const twisty = el('span', 'twisty', row.kind === 'pool' ? (this.collapsed.has(row.id) ? '▸' : '▾') : '');
    const name = el('span', 'id', row.kind === 'manager' ? 'manager' : row.id);
    const state = el('span', 'state', stateText(row));
    const parts = [twisty, name, state];
    if (row.status !== 'active') parts.push(el('span', 'dim', ` (${row.status})`));
    const timer = this.timerText(row.sid);
    if (timer !== '') parts.push(el('span', 'timer', timer));
    rowEl.replaceChildren(...parts);
  }

  /** @param {MouseEvent} event */
  onPress(event) {
    const target = /** @type {HTMLElement} */ (event.target);
    const rowEl = /** @type {HTMLElement | null} */ (target.closest('.row.actor'));
    if (rowEl === null || rowEl.dataset.sid === undefined) return;
    const row = this.model.actors.get(rowEl.dataset.sid);
    if (row === undefined) return;
    if (target.classList.contains('twisty') && row.kind === 'pool') {
      if (this.collapsed.has(row.id)) this.collapsed.delete(row.id);
      else this.collapsed.add(row.id);
      this.builtFor = -1;
      this.render();
    } else {
      this.selection.select(row.sid);
    }
  }
}
