// @ts-check
/**
 * Small formatting and DOM helpers of the dashboard page. Text goes into the DOM only through
 * textContent: actor ids, keys and event payloads come from the application and are never
 * parsed as HTML.
 */

/**
 * @param {string} tag
 * @param {string} [className]
 * @param {string} [text]
 * @returns {HTMLElement}
 */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * A duration for a countdown: `350 ms`, `1.2 s`, `4.5 min`.
 * @param {number} ms
 */
export function formatMs(ms) {
  if (!Number.isFinite(ms)) return '∞';
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

/** @param {number} n */
const pad2 = (n) => String(n).padStart(2, '0');

/**
 * Local wall-clock time with milliseconds.
 * @param {number} at ms since the epoch
 */
export function clockTime(at) {
  const d = new Date(at);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/**
 * One line of JSON, cut at `max` characters.
 * @param {unknown} value
 * @param {number} [max]
 */
export function oneLine(value, max = 240) {
  if (value === null || value === undefined) return '';
  if (typeof value === 'object' && Object.keys(value).length === 0) return '';
  const text = JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/**
 * Every path a set of active leaf paths implies, ancestors and the root (`''`) included.
 * @param {readonly string[]} leaves
 * @returns {Set<string>}
 */
export function withAncestors(leaves) {
  const out = new Set(['']);
  for (const leaf of leaves) {
    const parts = leaf.split('.');
    for (let i = 1; i <= parts.length; i++) out.add(parts.slice(0, i).join('.'));
  }
  return out;
}
