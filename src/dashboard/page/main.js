// @ts-check
/**
 * The dashboard page: loads the chart layouts, follows the server's WebSocket, and draws
 * three panels: the live actors (actor-list.js), the selected actor on its statechart
 * (chart.js) with its details, and the event log (log-panel.js).
 *
 * The one subtlety: messages may arrive faster than the screen needs them; each is applied to
 * the model at once (cheap), and drawing happens at most once per animation frame and at most
 * ten times a second, whatever the message rate. Countdowns tick on their own, four times a
 * second, redrawing only the rows in view, the chart's timer labels and the details.
 */
import { ActorList, stateText } from './actor-list.js';
import { ChartView } from './chart.js';
import { el, formatMs } from './format.js';
import { LogPanel } from './log-panel.js';
import { Model } from './model.js';

/** @typedef {import('../protocol.js').ActorRow} ActorRow */
/** @typedef {import('../protocol.js').PendingTimer} PendingTimer */
/** @typedef {import('../protocol.js').ServerMessage} ServerMessage */
/** @typedef {import('../chart-types.js').ChartLayout} ChartLayout */

const MIN_RENDER_INTERVAL_MS = 100;
const TICK_MS = 250;

/** @param {string} id */
const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

const base = location.pathname.endsWith('/') ? location.pathname : `${location.pathname}/`;
const model = new Model();
const chart = new ChartView(byId('chart'));
/** Maps an `after` event type to its label, from the layouts. @type {Map<string, string>} */
const timerLabels = new Map();

/** Measured by the page, read by the load measurement (bench/dashboard.ts). */
const perf = { messages: 0, bytes: 0, renders: 0, renderMsTotal: 0, renderMsMax: 0, applyMsTotal: 0 };
Object.assign(window, { __dashboard: perf });

// ---- selection ------------------------------------------------------------------------------

/** The selected actor's sessionId. @type {string | null} */
let selected = null;
/** The selected actor's last row, kept when it is gone. @type {ActorRow | null} */
let selectedRow = null;
/** The chart shown while nothing is selected. @type {string | null} */
let chartMachine = null;
/** The model version the details were drawn for (-1: draw them). */
let detailsVersion = -1;

/** @param {string | null} sid */
function select(sid) {
  selected = sid;
  selectedRow = sid === null ? null : (model.actors.get(sid) ?? null);
  detailsVersion = -1;
  scheduleRender();
}

function selectedActor() {
  if (selected === null) return undefined;
  const row = model.actors.get(selected) ?? selectedRow ?? undefined;
  if (row !== undefined) selectedRow = row;
  return row;
}

const actors = new ActorList(byId('actor-list'), model, timerLabels, { selected: () => selected, select });
byId('actor-filter').addEventListener('input', (event) => {
  actors.setFilter(/** @type {HTMLInputElement} */ (event.target).value);
  scheduleRender();
});

const log = new LogPanel(
  {
    list: byId('log-list'),
    key: /** @type {HTMLSelectElement} */ (byId('log-key')),
    text: /** @type {HTMLInputElement} */ (byId('log-filter')),
    follow: /** @type {HTMLInputElement} */ (byId('log-follow')),
    clear: byId('log-clear'),
    count: byId('log-count'),
  },
  model,
  (id) => {
    const row = id === 'manager' ? [...model.actors.values()].find((r) => r.kind === 'manager') : model.byId(id);
    if (row === undefined) return;
    select(row.sid);
    actors.reveal(row.sid);
  },
  () => scheduleRender(),
);

// ---- the chart and the details --------------------------------------------------------------

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
          chartMachine = machine;
          select(null);
        });
        return b;
      }),
    );
  }
  for (const b of tabs.children) b.classList.toggle('on', /** @type {HTMLElement} */ (b).dataset.machine === shown);
}

function renderChart() {
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
    banner.textContent =
      status.layout === 'computed'
        ? `${machine}: chart laid out at start (the shipped layout is stale)`
        : `${machine}: chart layout is stale (run npm run dashboard:generate)`;
  }
}

function renderDetails() {
  const row = selectedActor();
  if (row === undefined) {
    if (detailsVersion !== -2) {
      byId('details').replaceChildren(el('div', 'empty', 'Select an actor in the list (or an event in the log) to see its state, timers and context.'));
      detailsVersion = -2;
    }
    return;
  }
  if (detailsVersion === model.version) return;
  detailsVersion = model.version;
  const timers = model.timers.get(row.sid) ?? [];
  const parts = [el('div', 'heading', `${row.kind} ${row.kind === 'manager' ? '' : row.id}${row.key === null ? '' : `  key ${row.key}`}  status ${row.status}`)];
  parts.push(el('div', '', `state   ${stateText(row)}`));
  if (timers.length > 0) {
    parts.push(el('div', 'heading', 'Pending timers'));
    for (const t of timers) parts.push(el('div', '', `${timerLabels.get(t.event) ?? t.event}   ${formatMs(model.timeLeft(t))} left of ${formatMs(t.delayMs)}`));
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

byId('zoom-in').addEventListener('click', () => chart.zoomBy(1.25));
byId('zoom-out').addEventListener('click', () => chart.zoomBy(0.8));
byId('zoom-fit').addEventListener('click', () => chart.zoom(null));

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
  actors.render();
  renderChart();
  renderDetails();
  log.render();
  const pools = [...model.actors.values()].filter((r) => r.kind === 'pool').length;
  byId('summary').textContent = `${model.actors.size} actors · ${pools} pools · ${model.log.length} events${model.logDropped > 0 ? ` (${model.logDropped} dropped)` : ''}`;
  model.changed.clear();
  const ms = performance.now() - t0;
  perf.renders++;
  perf.renderMsTotal += ms;
  perf.renderMsMax = Math.max(perf.renderMsMax, ms);
}

// Countdowns.
setInterval(() => {
  if (model.timers.size === 0) return;
  actors.refresh();
  const row = selectedActor();
  const timers = row === undefined ? [] : (model.timers.get(row.sid) ?? []);
  if (timers.length === 0) return;
  chart.markTimers({ timers, timeLeft: (t) => model.timeLeft(t) });
  detailsVersion = -1;
  renderDetails();
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
      if (msg.reset) log.reset();
      model.apply(msg);
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
