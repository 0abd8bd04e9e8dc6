// @ts-check
/**
 * A virtualised list of fixed-height rows: only the rows in view (plus a few) exist in the
 * DOM, so ten thousand actors or log entries cost what forty do. Row elements are reused:
 * `renderRow` must set everything a row shows, since the element last showed another row.
 */

const OVERSCAN = 6;

export class VirtualList {
  /**
   * @param {HTMLElement} container scrollable, `position: relative`
   * @param {number} rowHeight px, as in the CSS
   * @param {(row: HTMLElement, index: number) => void} renderRow
   */
  constructor(container, rowHeight, renderRow) {
    this.container = container;
    this.rowHeight = rowHeight;
    this.renderRow = renderRow;
    this.count = 0;
    /** @type {HTMLElement[]} */
    this.rows = [];
    this.spacer = document.createElement('div');
    this.spacer.className = 'spacer-y';
    container.append(this.spacer);
    this.scheduled = false;
    container.addEventListener('scroll', () => {
      if (this.scheduled) return;
      this.scheduled = true;
      requestAnimationFrame(() => {
        this.scheduled = false;
        this.refresh();
      });
    });
  }

  /** @param {number} count */
  setCount(count) {
    if (count === this.count) return;
    this.count = count;
    this.spacer.style.height = `${count * this.rowHeight}px`;
  }

  /** True when scrolled to the last row (or there is nothing to scroll). */
  atEnd() {
    const c = this.container;
    return c.scrollTop + c.clientHeight >= c.scrollHeight - this.rowHeight;
  }

  scrollToEnd() {
    this.container.scrollTop = this.container.scrollHeight;
  }

  /** @param {number} index */
  scrollIntoView(index) {
    const top = index * this.rowHeight;
    const c = this.container;
    if (top < c.scrollTop || top + this.rowHeight > c.scrollTop + c.clientHeight) c.scrollTop = top - c.clientHeight / 2;
  }

  /** Re-renders the rows in view. */
  refresh() {
    const c = this.container;
    const first = Math.max(0, Math.floor(c.scrollTop / this.rowHeight) - OVERSCAN);
    const last = Math.min(this.count, Math.ceil((c.scrollTop + c.clientHeight) / this.rowHeight) + OVERSCAN);
    const needed = Math.max(0, last - first);
    while (this.rows.length < needed) {
      const row = document.createElement('div');
      row.className = 'row';
      c.append(row);
      this.rows.push(row);
    }
    for (let i = 0; i < this.rows.length; i++) {
      const row = /** @type {HTMLElement} */ (this.rows[i]);
      if (i >= needed) {
        row.hidden = true;
        continue;
      }
      row.hidden = false;
      const index = first + i;
      row.style.top = `${index * this.rowHeight}px`;
      this.renderRow(row, index);
    }
  }
}
