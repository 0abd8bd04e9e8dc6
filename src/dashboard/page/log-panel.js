// @ts-check
/**
 * The event log: every entry the page holds, filtered by key and by text, newest at the
 * bottom, virtualised. `follow` keeps the newest in view.
 *
 * The one subtlety: the model drops old entries from the front of its array; the view keeps
 * absolute indexes (position + `model.logShifted`) so that its filtered list stays valid and
 * only new entries are scanned on each draw.
 */
import { clockTime, el, oneLine } from './format.js';
import { ROW_HEIGHT } from './actor-list.js';
import { VirtualList } from './vlist.js';

/** @typedef {import('../protocol.js').LogEntry} LogEntry */
/** @typedef {import('./model.js').Model} Model */

export class LogPanel {
  /**
   * @param {{ list: HTMLElement, key: HTMLSelectElement, text: HTMLInputElement, follow: HTMLInputElement, clear: HTMLElement, count: HTMLElement }} elements
   * @param {Model} model
   * @param {(actorId: string) => void} selectActor called when an entry is clicked
   * @param {() => void} changed called when a filter changed (to redraw)
   */
  constructor(elements, model, selectActor, changed) {
    this.elements = elements;
    this.model = model;
    this.key = '';
    this.text = '';
    /** Absolute indexes of the entries shown. @type {number[]} */
    this.view = [];
    /** Absolute index of the next entry to consider. */
    this.scanned = 0;
    this.list = new VirtualList(elements.list, ROW_HEIGHT, (row, index) => this.renderLine(row, index));
    elements.key.addEventListener('change', () => {
      this.key = elements.key.value;
      this.reset();
      changed();
    });
    elements.text.addEventListener('input', () => {
      this.text = elements.text.value.trim().toLowerCase();
      this.reset();
      changed();
    });
    elements.clear.addEventListener('click', () => {
      model.logShifted += model.log.length;
      model.log = [];
      this.reset();
      changed();
    });
    // On press, not click: see actor-list.js (rows are redrawn under the pointer).
    elements.list.addEventListener('mousedown', (event) => {
      if (event.button !== 0) return;
      const rowEl = /** @type {HTMLElement | null} */ (/** @type {HTMLElement} */ (event.target).closest('.row.entry'));
      const id = rowEl?.dataset.actor;
      if (id !== undefined && id !== '') selectActor(id);
    });
  }

  /** Forgets the filtered view (the filter changed, or the server sent a full state). */
  reset() {
    this.view = [];
    this.scanned = this.model.logShifted;
  }

  /** @param {LogEntry} e */
  matches(e) {
    if (this.key !== '' && e.key !== this.key) return false;
    if (this.text === '') return true;
    const hay = `${e.type} ${e.actor ?? ''} ${e.from ?? ''} ${e.key ?? ''} ${oneLine(e.data, 400)}`.toLowerCase();
    return hay.includes(this.text);
  }

  render() {
    const model = this.model;
    // Entries the model dropped leave the view too.
    let drop = 0;
    while (drop < this.view.length && /** @type {number} */ (this.view[drop]) < model.logShifted) drop++;
    if (drop > 0) this.view.splice(0, drop);
    if (this.scanned < model.logShifted) this.scanned = model.logShifted;
    const end = model.logShifted + model.log.length;
    for (let i = this.scanned; i < end; i++) {
      const e = model.log[i - model.logShifted];
      if (e !== undefined && this.matches(e)) this.view.push(i);
    }
    this.scanned = end;
    this.list.setCount(this.view.length);
    if (this.elements.follow.checked) this.list.scrollToEnd();
    this.list.refresh();
    this.refreshKeys();
    this.elements.count.textContent = `${this.view.length} shown`;
  }

  /**
   * @param {HTMLElement} rowEl
   * @param {number} index
   */
  renderLine(rowEl, index) {
    const abs = this.view[index];
    const e = abs === undefined ? undefined : this.model.log[abs - this.model.logShifted];
    if (e === undefined) {
      rowEl.replaceChildren();
      return;
    }
    rowEl.className = `row entry src-${e.source}`;
    rowEl.dataset.seq = String(e.seq);
    rowEl.dataset.actor = e.actor ?? '';
    rowEl.dataset.key = e.key ?? '';
    const who = e.source === 'xstate' ? `${e.actor ?? '?'}${e.from === null ? '' : ` ← ${e.from}`}` : (e.actor ?? e.key ?? '');
    const wrap = el('span', `src-${e.source}`);
    wrap.append(el('span', 'type', e.type));
    rowEl.replaceChildren(el('span', 'at', clockTime(e.at)), wrap, el('span', 'who', who), el('span', 'data', oneLine(e.data)));
    rowEl.title = `${e.source} event ${e.type}${e.key === null ? '' : ` (key ${e.key})`}`;
  }

  /** The key select lists every key seen. */
  refreshKeys() {
    const select = this.elements.key;
    if (select.options.length - 1 === this.model.keys.size) return;
    const keys = [...this.model.keys].sort();
    const options = [el('option', '', 'all keys'), ...keys.map((k) => el('option', '', k))];
    options.forEach((option, i) => {
      /** @type {HTMLOptionElement} */ (option).value = i === 0 ? '' : (keys[i - 1] ?? '');
    });
    select.replaceChildren(...options);
    select.value = this.key;
  }
}
