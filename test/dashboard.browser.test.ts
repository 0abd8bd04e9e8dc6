/**
 * The dashboard in a real browser (Debian's Chromium, headless; see test/support/browser.ts):
 * it loads with no network but the loopback connection to it, shows the live actors (pools,
 * connections, a link), draws them on their statecharts, follows a pool into its breaker and
 * out, and refuses a wrong token. Assertions are on what the page shows. The run takes the
 * screenshots of docs/dashboard.md too: into a temporary directory, or into docs/images/ with
 * CMK_SCREENSHOTS=1 (`npm run docs:screenshots`), so a test run leaves the checkout clean.
 */
import { once } from 'node:events';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { poolMachine } from '../machines/pool.machine.js';
import { chartGraph } from '../src/dashboard/chart-graph.js';
import { startDashboard, type Dashboard } from '../src/dashboard/index.js';
import { leafPaths } from '../src/dashboard/watcher.js';
import { actorTree } from '../src/introspection.js';
import { launchBrowser, loopbackOnly, type TestBrowser } from './support/browser.js';
import { manager } from './support/managers.js';
import { startEchoServer, trackServers, type TestServer } from './support/servers.js';

const forDocs = process.env.CMK_SCREENSHOTS === '1';
const images = forDocs ? fileURLToPath(new URL('../docs/images/', import.meta.url)) : `${mkdtempSync(join(tmpdir(), 'cmk-screenshots-'))}/`;

/** Launched by the first test that needs it: without Chromium, each test fails saying so (none is skipped). */
let browser: Promise<TestBrowser> | undefined;
const context = async () => (await (browser ??= launchBrowser())).context;
const track = trackServers(); // closes the servers after the pages and dashboards below
const dashboards: Dashboard[] = [];
const pages: Page[] = [];

afterAll(async () => {
  const launched = await browser?.catch(() => undefined);
  await launched?.close();
  if (!forDocs) rmSync(images, { recursive: true, force: true });
});
afterEach(async () => {
  await Promise.all(pages.splice(0).map((p) => p.close()));
  await Promise.all(dashboards.splice(0).map((d) => d.close()));
});

const echoServer = (): Promise<TestServer> => track(startEchoServer());

function connectTo(server: TestServer): () => Promise<net.Socket> {
  return async () => {
    const socket = net.connect(server.port, server.host);
    await once(socket, 'connect');
    return socket;
  };
}

const poolConfig = { maxConnections: 4, destroy: (s: net.Socket) => void s.destroy() };

async function openPage(d: Dashboard): Promise<{ page: Page; net: { attempted: string[]; blocked: string[] } }> {
  const page = await (await context()).newPage();
  pages.push(page);
  const traffic = await loopbackOnly(page, new URL(d.url).origin);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(d.url);
  await page.locator('#link.up').waitFor();
  expect(errors).toEqual([]);
  return { page, net: traffic };
}

const row = (page: Page, id: string) => page.locator(`#actor-list .row.actor[data-id="${id}"]`);

/** Clicks an actor's row: the chart's title then names it (see the redraw test below). */
async function selectRow(page: Page, id: string): Promise<void> {
  await row(page, id).click();
  await expect.poll(() => page.locator('#chart-title').textContent()).toSatisfy((title: string | null) => title?.startsWith(`${id} · `) === true);
}

/**
 * The pool machine's breaker (the state a failed create leads to), the state its timer leads to
 * (the probe), and a test for "healthy" (neither), read from the machine.
 */
function poolStates(): { breaker: string; breakerTimer: string; healthy: (state: string | null) => boolean } {
  const graph = chartGraph(poolMachine);
  const failed = graph.transitions.find((t) => t.eventType === 'CONNECTION.FAILED' && t.target !== undefined);
  if (failed === undefined) throw new Error('the pool machine changed: update this test');
  const timer = graph.transitions.find((t) => t.source === failed.target && t.kind === 'after');
  if (timer === undefined) throw new Error(`the pool's ${failed.target} has no after transition: update this test`);
  const probe = timer.target;
  const healthy = (state: string | null) => state !== null && state.includes('running.') && !state.includes(failed.target) && !state.includes(probe);
  return { breaker: failed.target, breakerTimer: timer.label, healthy };
}

// Real time, a real browser, on a shared 2-core machine: generous bounds. Each Playwright step
// has a shorter one of its own (test/support/browser.ts), so a step that never happens fails
// naming itself rather than as a bare test timeout.
describe('dashboard in a browser', { timeout: 90_000 }, () => {
  test('loads with no network, shows every live actor in its state, filters the log by key, and draws a connection on its chart', async () => {
    const server = await echoServer();
    const m = manager();
    const connect = connectTo(server);
    const api = await Promise.all([1, 2, 3].map(() => m.connectionCache.acquireConnection('api', poolConfig, connect)));
    m.connectionCache.returnConnection('api', api[0] as net.Socket);
    const cached = await m.connectionCache.acquireConnection('cache', poolConfig, connect);
    await m.connect([{ host: server.host, port: server.port, cacheKey: 'link' }]);
    const d = await startDashboard(m);
    dashboards.push(d);

    const { page, net: traffic } = await openPage(d);

    // Every live actor has its row, showing its current state.
    const expected = (): string[] =>
      actorTree(m).map((n) => `${n.kind === 'manager' ? 'manager' : n.ref.id} ${leafPaths(n.ref.getSnapshot().value).join(', ')}`);
    const shown = (): Promise<string[]> =>
      page.$$eval('#actor-list .row.actor', (rows) => rows.map((r) => `${r.querySelector('.id')?.textContent} ${r.querySelector('.state')?.textContent}`));
    await expect.poll(async () => (await shown()).sort(), { timeout: 5000 }).toEqual(expected().sort());
    expect(await page.locator('#actor-list .row.actor[data-kind="link"]').count()).toBe(1);
    await expect.poll(() => page.locator('#actor-list .row.stats[data-key="api"]').textContent()).toMatch(/total 3 · idle 1 · inUse 2/);

    // Activity on both keys reaches the log; the key filter shows one key's entries only. (Each
    // key is looked for under its filter: unfiltered, the log follows its newest entries, and
    // one key's can scroll out of the virtualised list before the page draws them.)
    m.connectionCache.returnConnection('cache', cached as net.Socket);
    m.connectionCache.destroyConnection('api', api[1] as net.Socket);
    const shownKeys = () => page.$$eval('#log-list .row.entry:not([hidden])', (rows) => rows.map((r) => r.getAttribute('data-key')));
    await page.selectOption('#log-key', 'cache');
    await page.locator('#log-list .row.entry[data-key="cache"]', { hasText: 'CHECKIN' }).first().waitFor();
    await expect.poll(shownKeys).not.toContain('api');
    await page.selectOption('#log-key', 'api');
    await page.locator('#log-list .row.entry[data-key="api"]', { hasText: 'DISCARD' }).first().waitFor();
    await expect.poll(shownKeys).not.toContain('cache');
    await page.selectOption('#log-key', '');

    await selectRow(page, 'pool:api');
    await page.locator('#chart svg[data-machine="pool"] .state.active.atomic').first().waitFor();
    await page.screenshot({ path: `${images}dashboard-overview.png` });

    // A connection, selected: its chart, with its active state marked.
    const connection = row(page, 'api#3');
    await selectRow(page, 'api#3');
    const state = (await connection.locator('.state').textContent()) ?? '';
    expect(state).not.toBe('');
    const active = page.locator('#chart svg[data-machine="connection"] .state.active.atomic');
    await expect.poll(() => active.getAttribute('data-path')).toBe(state);
    await expect(page.locator('#chart-title').textContent()).resolves.toContain('api#3');
    await page.screenshot({ path: `${images}dashboard-connection.png` });

    expect(traffic.blocked).toEqual([]);
    expect(traffic.attempted.length).toBeGreaterThan(0);
    for (const url of traffic.attempted) expect(new URL(url).host).toBe(new URL(d.url).host);
    m.connectionCache.returnConnection('api', api[2] as net.Socket);
  });

  test("shows a pool entering its breaker when its server goes away, with the time left, and leaving it when the server is back", async () => {
    const { breaker, breakerTimer, healthy } = poolStates();
    const server = await echoServer();
    const m = manager();
    const config = { ...poolConfig, minConnections: 1 };
    const c = await m.connectionCache.acquireConnection('db', config, connectTo(server));
    m.connectionCache.returnConnection('db', c as net.Socket);
    const d = await startDashboard(m);
    dashboards.push(d);
    const { page } = await openPage(d);
    const pool = row(page, 'pool:db');
    await expect.poll(async () => healthy(await pool.locator('.state').textContent())).toBe(true);

    // The server goes: the pooled socket drops, refills to minConnections fail, the breaker opens.
    await server.stop();
    await expect.poll(() => pool.locator('.state').textContent(), { timeout: 10_000 }).toContain(breaker);
    await expect.poll(() => pool.locator('.timer').textContent(), { timeout: 5000 }).toContain(breakerTimer);
    await page.locator('#log-list .row.entry[data-key="db"]', { hasText: 'ECONNREFUSED' }).first().waitFor();
    // Selected: its chart marks the breaker state and counts down on the transition out of it.
    await selectRow(page, 'pool:db');
    await expect.poll(() => page.locator(`#chart svg[data-machine="pool"] .state.active.atomic[data-path="${breaker}"]`).count(), { timeout: 5000 }).toBe(1);
    // (The housekeeping region may have a timer pending too: pick the breaker's.)
    await expect
      .poll(() => page.locator('#chart svg .edge.after text.pending', { hasText: breakerTimer }).textContent(), { timeout: 5000 })
      .toMatch(new RegExp(`^${breakerTimer} · [\\d.]+ (ms|s)$`));
    await page.screenshot({ path: `${images}dashboard-breaker.png` });

    // It comes back on the same port: the next probe succeeds and the pool is healthy again.
    await server.restart();
    await expect.poll(async () => healthy(await pool.locator('.state').textContent()), { timeout: 10_000 }).toBe(true);
    expect(await pool.locator('.state').textContent()).not.toContain(breaker);
    await expect.poll(() => page.locator('#actor-list .row.stats[data-key="db"]').textContent()).toMatch(/total 1 · idle 1/);
  });

  test('a click on a row selects its actor even when the row is redrawn between press and release', async () => {
    const server = await echoServer();
    const m = manager();
    const c = await m.connectionCache.acquireConnection('db', poolConfig, connectTo(server));
    m.connectionCache.returnConnection('db', c as net.Socket);
    const d = await startDashboard(m);
    dashboards.push(d);
    const { page } = await openPage(d);
    // The idle connection's sweep is a pending timer: its countdown redraws the rows in view.
    // The page remembers what the press landed on, to see it replaced before the release.
    type PageGlobal = { document: EventTarget; pressedOn?: { isConnected: boolean } };
    await page.evaluate(() => {
      const g = globalThis as unknown as PageGlobal;
      g.document.addEventListener('mousedown', (event) => void (g.pressedOn = event.target as unknown as { isConnected: boolean }), { capture: true });
    });
    const box = await row(page, 'pool:db').boundingBox();
    if (box === null) throw new Error("the pool's row is not shown");
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await expect.poll(() => page.evaluate(() => (globalThis as unknown as PageGlobal).pressedOn?.isConnected)).toBe(false);
    await page.mouse.up();
    await expect.poll(() => page.locator('#chart-title').textContent()).toMatch(/^pool:db · /);
  });

  test('a wrong token gets 403 from the page URL and the WebSocket upgrade', async () => {
    const d = await startDashboard(manager());
    dashboards.push(d);
    const page = await (await context()).newPage();
    pages.push(page);
    const url = new URL(d.url);
    const wrong = `${url.origin}/${'z'.repeat(url.pathname.length - 2)}/`;
    const response = await page.goto(wrong);
    expect(response?.status()).toBe(403);
    expect(await page.locator('body').textContent()).toBe('forbidden\n');
    const outcome = await page.evaluate(
      (wsUrl) =>
        new Promise<string>((resolve) => {
          const ws = new WebSocket(wsUrl);
          ws.onopen = () => resolve('open');
          ws.onerror = () => resolve('error');
        }),
      `${wrong.replace('http:', 'ws:')}ws`,
    );
    expect(outcome).toBe('error');
  });
});
