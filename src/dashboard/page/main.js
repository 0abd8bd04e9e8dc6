// @ts-check
/**
 * The dashboard page: loads the chart layouts, follows the server's WebSocket, and draws
 * three panels: the live actors (a virtualised tree: manager, pools with their counts and
 * connections, links), the selected actor on its statechart with its context and timers, and
 * the event log (virtualised, filterable by key and text).
 *
 * The one subtlety: messages may arrive faster than the screen needs them; each is applied to
 * the model at once (cheap), and drawing happens at most once per animation frame and at most
 * ten times a second, whatever the message rate. Countdowns tick on their own, four times a
 * second, redrawing only the rows in view and the chart's timer labels.
 */
import { ChartView } from './chart.js';
import { clockTime, el, formatMs, oneLine } from './format.js';
import { Model } from './model.js';
import { VirtualList } from './vlist.js';

/** @typedef {import('../protocol.js').ActorRow} ActorRow */
/** @typedef {import('../protocol.js').PendingTimer} PendingTimer */
/** @typedef {import('../protocol.js').ServerMessage} ServerMessage */
/** @typedef {import('../protocol.js').LogEntry} LogEntry */
/** @typedef {import('../chart-types.js').ChartLayout} ChartLayout */
/** @typedef {{ t: 'actor', sid: string, depth: number } | { t: 'stats', key: string }} Line */

const ROW_HEIGHT = 22;
const MIN_RENDER_INTERVAL_MS = 100;
const TICK_MS = 250;

/** @param {string} id */
const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

const base = location.pathname.endsWith('/') ? location.pathname : `${location.pathname}/`;
const model = new Model();
const chart = new ChartView(byId('chart'));

/** Measured by the page, read by the load measurement (docs/dashboard.md). */
const perf = { messages: 0, bytes: 0, renders: 0, renderMsTotal: 0, renderMsMax: 0, applyMsTotal: 0, firstBatchAt: 0 };
Object.assign(window, { __dashboard: perf });

// ---- selection and view state ---------------------------------------------------------------

/** @type {string | null} sessionId */
let selected = null;
/** The selected actor's last row, kept when it is gone. @type {ActorRow | null} */
let selectedRow = null;
/** Chart shown while nothing is selected. @type {string | null} */
let chartMachine = null;
/** @type {Set<string>} pools (ids) whose connections are hidden */
const collapsed = new Set();
/** Maps an `after` event type to its label, from the layouts. @type {Map<string, string>} */
const timerLabels = new Map();

// ---- the actor list -------------------------------------------------------------------------

/** @type {Line[]} */
let lines = [];
let linesStructure = -1;
let actorFilter = '';

const actorList = new VirtualList(byId('actor-list'), ROW_HEIGHT, renderActorLine);

/** @param {string} sid */
const sidNumber = (sid) => Number(sid.replace(/\D/g, '')) || 0;

/** @param {ActorRow} row */
const stateText = (row) => row.state.join(', ');

/** @param {ActorRow} row */
function matchesFilter(row) {
  if (actorFilter === '') return true;
  return row.id.toLowerCase().includes(actorFilter) || (row.key ?? '').toLowerCase().includes(actorFilter) || stateText(row).toLowerCase().includes(actorFilter);
}

function rebuildLines() {
  /** @type {ActorRow[]} */ const managers = [];
  /** @type {ActorRow[]} */ const pools = [];
  /** @type {ActorRow[]} */ const links = [];
  /** @type {Map<string, ActorRow[]>} */ const children = new Map();
  /** @type {ActorRow[]} */ const orphans = [];
  for (const row of model.actors.values()) {
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
  for (const m of managers) if (matchesFilter(m)) out.push({ t: 'actor', sid: m.sid, depth: 0 });
  for (const p of pools) {
    const kids = (children.get(p.id) ?? []).sort((a, b) => sidNumber(a.sid) - sidNumber(b.sid));
    children.delete(p.id);
    const shownKids = kids.filter(matchesFilter);
    if (!matchesFilter(p) && shownKids.length === 0) continue;
    out.push({ t: 'actor', sid: p.sid, depth: 0 });
    if (p.key !== null) out.push({ t: 'stats', key: p.key });
    if (!collapsed.has(p.id)) for (const k of shownKids) out.push({ t: 'actor', sid: k.sid, depth: 1 });
  }
  // Connections whose pool is not (or no longer) listed.
  for (const list of children.values()) for (const k of list) if (matchesFilter(k)) out.push({ t: 'actor', sid: k.sid, depth: 1 });
  for (const o of orphans) if (matchesFilter(o)) out.push({ t: 'actor', sid: o.sid, depth: 0 });
  for (const l of links) if (matchesFilter(l)) out.push({ t: 'actor', sid: l.sid, depth: 0 });
  lines = out;
  linesStructure = model.structure;
  actorList.setCount(lines.length);
}

/**
 * The first pending timer of an actor as `label time-left`, or ''.
 * @param {string} sid
 */
function timerText(sid) {
  const timers = model.timers.get(sid);
  if (timers === undefined || timers.length === 0) return '';
  let first = /** @type {PendingTimer} */ (timers[0]);
  for (const t of timers) if (model.timeLeft(t) < model.timeLeft(first)) first = t;
  const label = timerLabels.get(first.event) ?? first.event;
  const more = timers.length > 1 ? ` +${timers.length - 1}` : '';
  return `${label}: ${formatMs(model.timeLeft(first))}${more}`;
}

/**
 * @param {HTMLElement} rowEl
 * @param {number} index
 */
function renderActorLine(rowEl, index) {
  const line = lines[index];
  if (line === undefined) return;
  if (line.t === 'stats') {
    const stats = model.stats.get(line.key);
    rowEl.className = 'row stats';
    rowEl.removeAttribute('data-sid');
    rowEl.removeAttribute('data-id');
    rowEl.dataset.key = line.key;
    const parts = stats === undefined ? [] : Object.entries(stats).filter(([, v]) => typeof v === 'number').map(([k, v]) => `${k} ${v}`);
    rowEl.textContent = parts.join(' · ');
    rowEl.title = rowEl.textContent;
    return;
  }
  const row = model.actors.get(line.sid);
  if (row === undefined) return;
  rowEl.className = `row actor kind-${row.kind} depth-${line.depth} status-${row.status}${line.sid === selected ? ' selected' : ''}`;
  rowEl.dataset.sid = row.sid;
  rowEl.dataset.id = row.id;
  rowEl.dataset.kind = row.kind;
  delete rowEl.dataset.key;
  rowEl.title = `${row.id} (${row.kind}) ${stateText(row)}`;
  const twisty = el('span', 'twisty', row.kind === 'pool' ? (collapsed.has(row.id) ? '▸' : '▾') : '');
  const name = el('span', 'id', row.kind === 'manager' ? 'manager' : row.id);
  const state = el('span', 'state', stateText(row));
  const parts = [twisty, name, state];
  if (row.status !== 'active') parts.push(el('span', 'dim', ` (${row.status})`));
  const timer = timerText(row.sid);
  if (timer !== '') parts.push(el('span', 'timer', timer));
  rowEl.replaceChildren(...parts);
}

byId('actor-list').addEventListener('click', (event) => {
  const target = /** @type {HTMLElement} */ (event.target);
  const rowEl = /** @type {HTMLElement | null} */ (target.closest('.row.actor'));
  if (rowEl === null || rowEl.dataset.sid === undefined) return;
  const row = model.actors.get(rowEl.dataset.sid);
  if (row === undefined) return;
  if (target.classList.contains('twisty') && row.kind === 'pool') {
    if (collapsed.has(row.id)) collapsed.delete(row.id);
    else collapsed.add(row.id);
    linesStructure = -1;
  } else {
    select(row.sid);
  }
  scheduleRender();
});

byId('actor-filter').addEventListener('input', (event) => {
  actorFilter = /** @type {HTMLInputElement} */ (event.target).value.trim().toLowerCase();
  linesStructure = -1;
  scheduleRender();
});

// ---- selection, chart, details ----------------------------------------------------------------

/** @param {string | null} sid */
function select(sid) {
  selected = sid;
  selectedRow = sid === null ? null : (model.actors.get(sid) ?? null);
  detailsVersion = -1;
}

function selectedActor() {
  if (selected === null) return undefined;
  const row = model.actors.get(selected) ?? selectedRow ?? undefined;
  if (row !== undefined) selectedRow = row;
  return row;
}

function renderTabs() {
  const tabs = byId('chart-tabs');
  const shown = selectedActor()?.machine ?? chartMachine;
  if (tabs.childElementCount !== chart.machines().length) {
    tabs.replaceChildren(
      ...chart.machines().map((machine) => {
        const b = /** @type {HTMLButtonElement} */ (el('button', '', machine));
        b.type = 'button';
        b.dataset.machine = machine;
        b.title = `Show the ${machine} statechart`;
        b.addEventListener('click', () => {
          select(null);
          chartMachine = machine;
          scheduleRender();
        });
        return b;
      }),
    );
  }
  for (const b of tabs.children) b.classList.toggle('on', /** @type {HTMLElement} */ (b).dataset.machine === shown);
}

let detailsVersion = -1;

function renderChartAndDetails() {
  const row = selectedActor();
  const machine = row?.machine ?? chartMachine ?? chart.machines()[0] ?? null;
  chart.show(machine);
  renderTabs();
  const title = byId('chart-title');
  if (row === undefined) title.textContent = machine === null ? 'no chart' : `${machine} (select an actor to see it live)`;
  else title.textContent = `${row.kind === 'manager' ? 'manager' : row.id} · ${stateText(row)}${row.status === 'active' ? '' : ` (${row.status})`}`;
  const timers = row === undefined ? [] : (model.timers.get(row.sid) ?? []);
  chart.mark(row === undefined ? undefined : { state: row.state, timers, timeLeft: (t) => model.timeLeft(t) });
  const status = model.charts.find((c) => c.machine === machine);
  const banner = byId('banner');
  banner.hidden = status === undefined || status.layout === 'shipped';
  if (status !== undefined && status.layout !== 'shipped') {
    banner.textContent = status.layout === 'computed' ? `${machine}: layout computed at start (the shipped one is stale)` : `${machine}: chart layout is stale (run npm run dashboard:generate)`;
  }
  if (row !== undefined && (selected === null || model.changed.has(row.sid) || detailsVersion === -1)) renderDetails(row, timers);
  if (row === undefined && detailsVersion !== -2) {
    byId('details').replaceChildren(el('div', 'empty', 'Select an actor in the list (or an event in the log) to see its state, timers and context.'));
    detailsVersion = -2;
  }
}

/**
 * @param {ActorRow} row
 * @param {PendingTimer[]} timers
 */
function renderDetails(row, timers) {
  detailsVersion = model.version;
  const parts = [el('div', 'heading', `${row.kind} ${row.kind === 'manager' ? '' : row.id}${row.key === null ? '' : `  key ${row.key}`}  status ${row.status}`)];
  parts.push(el('div', '', `state   ${stateText(row)}`));
  if (timers.length > 0) {
    parts.push(el('div', 'heading', 'Pending timers'));
    for (const t of timers) parts.push(el('div', 'timer-line', `${timerLabels.get(t.event) ?? t.event}   ${formatMs(model.timeLeft(t))} left of ${formatMs(t.delayMs)}`));
  }
  const stats = row.kind === 'pool' && row.key !== null ? model.stats.get(row.key) : undefined;
  if (stats !== undefined) {
    parts.push(el('div', 'heading', 'Pool statistics'));
    const counts = Object.entries(stats).filter(([, v]) => typeof v === 'number');
    parts.push(el('div', 'wrap', counts.map(([k, v]) => `${k} ${v}`).join('   ')));
  }
  parts.push(el('div', 'heading', 'Context'));
  parts.push(el('div', '', JSON.stringify(row.context, null, 2)));
  byId('details').replaceChildren(...parts);
}

function tickDetailsTimers() {
  const row = selectedActor();
  if (row === undefined) return;
  const timers = model.timers.get(row.sid) ?? [];
  if (timers.length > 0) renderDetails(row, timers);
  chart.markTimers({ timers, timeLeft: (t) => model.timeLeft(t) });
}

byId('zoom-in').addEventListener('click', () => chart.zoomBy(1.25));
byId('zoom-out').addEventListener('click', () => chart.zoomBy(0.8));
byId('zoom-fit').addEventListener('click', () => chart.zoom(null));

// ---- the event log --------------------------------------------------------------------------

const logList = new VirtualList(byId('log-list'), ROW_HEIGHT, renderLogLine);
const logKeySelect = /** @type {HTMLSelectElement} */ (byId('log-key'));
const logFollow = /** @type {HTMLInputElement} */ (byId('log-follow'));
let logKey = '';
let logText = '';
/** Indexes (absolute: + model.logShifted) of the entries shown. @type {number[]} */
let logView = [];
/** Absolute index of the next entry to consider. */
let logScanned = 0;

/** @param {LogEntry} e */
function logMatches(e) {
  if (logKey !== '' && e.key !== logKey) return false;
  if (logText === '') return true;
  const hay = `${e.type} ${e.actor ?? ''} ${e.from ?? ''} ${e.key ?? ''} ${oneLine(e.data, 400)}`.toLowerCase();
  return hay.includes(logText);
}

function resetLogView() {
  logView = [];
  logScanned = model.logShifted;
}

function updateLogView() {
  // Entries shifted out of the model leave the view too.
  let drop = 0;
  while (drop < logView.length && /** @type {number} */ (logView[drop]) < model.logShifted) drop++;
  if (drop > 0) logView.splice(0, drop);
  if (logScanned < model.logShifted) logScanned = model.logShifted;
  const end = model.logShifted + model.log.length;
  for (let i = logScanned; i < end; i++) {
    const e = model.log[i - model.logShifted];
    if (e !== undefined && logMatches(e)) logView.push(i);
  }
  logScanned = end;
  logList.setCount(logView.length);
}

/**
 * @param {HTMLElement} rowEl
 * @param {number} index
 */
function renderLogLine(rowEl, index) {
  const abs = logView[index];
  const e = abs === undefined ? undefined : model.log[abs - model.logShifted];
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

function refreshKeyOptions() {
  if (logKeySelect.options.length - 1 === model.keys.size) return;
  const keys = [...model.keys].sort();
  logKeySelect.replaceChildren(el('option', '', 'all keys'), ...keys.map((k) => el('option', '', k)));
  /** @type {HTMLOptionElement} */ (logKeySelect.options[0]).value = '';
  for (let i = 1; i < logKeySelect.options.length; i++) /** @type {HTMLOptionElement} */ (logKeySelect.options[i]).value = keys[i - 1] ?? '';
  logKeySelect.value = logKey;
}

logKeySelect.addEventListener('change', () => {
  logKey = logKeySelect.value;
  resetLogView();
  scheduleRender();
});
byId('log-filter').addEventListener('input', (event) => {
  logText = /** @type {HTMLInputElement} */ (event.target).value.trim().toLowerCase();
  resetLogView();
  scheduleRender();
});
byId('log-clear').addEventListener('click', () => {
  model.logShifted += model.log.length;
  model.log = [];
  resetLogView();
  scheduleRender();
});
byId('log-list').addEventListener('click', (event) => {
  const rowEl = /** @type {HTMLElement | null} */ (/** @type {HTMLElement} */ (event.target).closest('.row.entry'));
  const id = rowEl?.dataset.actor;
  if (id === undefined || id === '') return;
  const row = id === 'manager' ? [...model.actors.values()].find((r) => r.kind === 'manager') : model.byId(id);
  if (row !== undefined) {
    select(row.sid);
    const index = lines.findIndex((l) => l.t === 'actor' && l.sid === row.sid);
    if (index >= 0) actorList.scrollIntoView(index);
    scheduleRender();
  }
});

// ---- drawing --------------------------------------------------------------------------------

let renderScheduled = false;
let lastRender = 0;

function scheduleRender() {
  if (renderScheduled) return;
  renderScheduled = true;
  const wait = Math.max(0, MIN_RENDER_INTERVAL_MS - (performance.now() - lastRender));
  setTimeout(() => requestAnimationFrame(render), wait);
}

function render() {
  renderScheduled = false;
  const t0 = performance.now();
  lastRender = t0;
  if (linesStructure !== model.structure || actorFilter !== '') rebuildLines();
  actorList.refresh();
  renderChartAndDetails();
  const follow = logFollow.checked;
  updateLogView();
  if (follow) logList.scrollToEnd();
  logList.refresh();
  refreshKeyOptions();
  const pools = [...model.actors.values()].filter((r) => r.kind === 'pool').length;
  byId('summary').textContent = `${model.actors.size} actors · ${pools} pools · ${model.log.length} events${model.logDropped > 0 ? ` (${model.logDropped} dropped)` : ''}`;
  byId('log-count').textContent = `${logView.length} shown`;
  model.changed.clear();
  const ms = performance.now() - t0;
  perf.renders++;
  perf.renderMsTotal += ms;
  perf.renderMsMax = Math.max(perf.renderMsMax, ms);
}

setInterval(() => {
  if (model.timers.size === 0) return;
  actorList.refresh();
  tickDetailsTimers();
}, TICK_MS);

// ---- the connection to the server -----------------------------------------------------------

const link = byId('link');
let retryMs = 500;

function connect() {
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${base}ws`);
  ws.addEventListener('open', () => {
    link.textContent = 'live';
    link.className = 'link up';
    retryMs = 500;
  });
  ws.addEventListener('message', (event) => {
    const t0 = performance.now();
    const text = String(event.data);
    perf.messages++;
    perf.bytes += text.length;
    /** @type {ServerMessage} */
    const msg = JSON.parse(text);
    if (msg.type === 'batch') {
      if (msg.reset) resetLogView();
      model.apply(msg);
      if (perf.firstBatchAt === 0) perf.firstBatchAt = performance.now();
    }
    perf.applyMsTotal += performance.now() - t0;
    scheduleRender();
  });
  ws.addEventListener('close', () => {
    link.textContent = 'disconnected (retrying)';
    link.className = 'link down';
    setTimeout(connect, retryMs);
    retryMs = Math.min(5000, retryMs * 2);
  });
}

async function start() {
  const response = await fetch(`${base}charts.json`);
  /** @type {{ layouts: ChartLayout[] }} */
  const charts = await response.json();
  chart.setLayouts(charts.layouts);
  for (const layout of charts.layouts) {
    for (const t of layout.transitions) if (t.kind === 'after') timerLabels.set(t.eventType, t.label);
    for (const s of layout.states) for (const t of s.internal) if (t.kind === 'after') timerLabels.set(t.eventType, t.label);
  }
  connect();
  scheduleRender();
}

start().catch((error) => {
  link.textContent = `failed to start: ${error instanceof Error ? error.message : String(error)}`;
});
