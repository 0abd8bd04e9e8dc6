/**
 * The idle connections of one key: a stack (the most recently returned goes out first, so the
 * least recently used sink to the bottom, where idle expiry and LRU eviction find them).
 *
 * Removal from the middle (a connection that drops, expires or is evicted while idle) is lazy:
 * the entry stays in the array and is skipped later. Each record remembers the position of its
 * live entry (`idleAt`), so an entry left behind by an earlier rest can never be mistaken for
 * the current one. A splice per removal made retiring thousands of idle connections quadratic.
 */

/** What the stack needs of a record. */
export interface Stackable {
  /** Position of this record's live entry in the stack; -1 when it is not idle. */
  idleAt: number;
}

export class IdleStack<R extends Stackable> {
  private items: R[] = [];
  /** Live entries (records that are idle). */
  size = 0;

  push(record: R): void {
    record.idleAt = this.items.length;
    this.items.push(record);
    this.size++;
  }

  /** The most recently pushed idle record, removed; undefined if none. */
  pop(): R | undefined {
    const items = this.items;
    while (items.length > 0) {
      const i = items.length - 1;
      const record = items.pop() as R;
      if (record.idleAt === i) {
        record.idleAt = -1;
        this.size--;
        return record;
      }
    }
    return undefined;
  }

  /** The least recently pushed idle record, left in place. */
  bottom(): R | undefined {
    for (const [i, record] of this.items.entries()) if (record.idleAt === i) return record;
    return undefined;
  }

  /** Takes `record` off the stack if it is idle there; true if it was. */
  remove(record: R): boolean {
    if (record.idleAt < 0 || this.items[record.idleAt] !== record) return false;
    record.idleAt = -1;
    this.size--;
    if (this.size === 0) this.items.length = 0;
    else if (this.items.length > 64 && this.size * 2 < this.items.length) this.compact();
    return true;
  }

  /** The idle records, least recently pushed first. */
  *records(): IterableIterator<R> {
    for (const [i, record] of this.items.entries()) if (record.idleAt === i) yield record;
  }

  /** Takes every record off the stack and returns them, least recently pushed first. */
  drain(): R[] {
    const live = [...this.records()];
    for (const record of live) record.idleAt = -1;
    this.items = [];
    this.size = 0;
    return live;
  }

  private compact(): void {
    const live = [...this.records()];
    this.items = live;
    for (const [i, record] of live.entries()) record.idleAt = i;
  }
}
