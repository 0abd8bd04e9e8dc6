/**
 * The dashboard's server without a browser: the token on every request and on the WebSocket
 * upgrade, what it serves, option errors, and a close() that leaves nothing behind.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { ConfigurationError } from '../src/index.js';
import { startDashboard, type Dashboard } from '../src/dashboard/index.js';
import type { BatchMessage } from '../src/dashboard/protocol.js';
import { manager } from './support/managers.js';
import { rejection } from './support/rejection.js';
import { activeResources } from './support/servers.js';

const open: Dashboard[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.close()));
});

async function dashboard(): Promise<Dashboard & { origin: string; token: string }> {
  const d = await startDashboard(manager());
  open.push(d);
  const url = new URL(d.url);
  return Object.assign(d, { origin: url.origin, token: url.pathname.split('/')[1] ?? '' });
}

/** The status of a WebSocket upgrade to `url`: 101 when it opened. */
function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('error', (error) => reject(error));
  });
}

/** The first message a page gets. */
function firstMessage(url: string): Promise<{ ws: WebSocket; message: BatchMessage }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('message', (data) => resolve({ ws, message: JSON.parse(String(data)) as BatchMessage }));
    ws.on('error', reject);
  });
}

describe('dashboard server', () => {
  test('answers 403, and nothing else, without the right token', async () => {
    const d = await dashboard();
    const wrong = 'x'.repeat(d.token.length);
    for (const path of ['/', '/index.html', '/main.js', '/favicon.ico', `/${wrong}/`, `/${wrong}/main.js`, `/${d.token}x/`, `/${d.token.slice(0, -1)}/`]) {
      const res = await fetch(d.origin + path, { redirect: 'manual' });
      expect(res.status, path).toBe(403);
      const body = await res.text();
      expect(body, path).toBe('forbidden\n');
    }
  });

  test('serves the page and its files with the token, strictly (CSP, no referrer), and 404 for the rest', async () => {
    const d = await dashboard();
    const page = await fetch(d.url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    const html = await page.text();
    let bytes = Buffer.byteLength(html);
    // Every file the page loads: its links, and the modules its scripts import, transitively.
    const files = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] ?? '').filter((ref) => !ref.startsWith('data:'));
    for (let i = 0; i < files.length; i++) {
      const ref = files[i] ?? '';
      // Relative: the token travels with every URL the page uses.
      expect(ref).not.toMatch(/^(\/|[a-z]+:)/);
      const res = await fetch(new URL(ref, d.url));
      expect(res.status, ref).toBe(200);
      const text = await res.text();
      bytes += Buffer.byteLength(text);
      if (ref.endsWith('.js')) {
        for (const m of text.matchAll(/from '\.\/([\w.-]+)'/g)) if (!files.includes(m[1] ?? '')) files.push(m[1] ?? '');
      }
    }
    const chartsText = await (await fetch(`${d.url}charts.json`)).text();
    bytes += Buffer.byteLength(chartsText);
    const charts = JSON.parse(chartsText) as { layouts: Array<{ machine: string }> };
    expect(charts.layouts.map((l) => l.machine)).toEqual(['manager', 'pool', 'connection']);
    // The whole page, charts included (docs/dashboard.md gives the figure): a budget, so that
    // growth is a decision.
    expect(files.sort()).toEqual(['actor-list.js', 'chart.js', 'format.js', 'log-panel.js', 'main.js', 'model.js', 'style.css', 'vlist.js']);
    expect(bytes).toBeLessThan(100_000);
    expect((await fetch(`${d.url}nothing.js`)).status).toBe(404);
    expect((await fetch(d.url, { method: 'POST' })).status).toBe(405);
    const bare = await fetch(d.url.slice(0, -1), { redirect: 'manual' });
    expect(bare.status).toBe(302);
    expect(bare.headers.get('location')).toBe(`/${d.token}/`);
  });

  test('refuses the WebSocket upgrade without the token or from another origin; with both, sends the state', async () => {
    const d = await dashboard();
    const ws = d.url.replace('http:', 'ws:');
    expect(await upgradeStatus(`${d.origin.replace('http:', 'ws:')}/${'y'.repeat(d.token.length)}/ws`)).toBe(403);
    expect(await upgradeStatus(`${d.origin.replace('http:', 'ws:')}/ws`)).toBe(403);
    expect(await upgradeStatus(`${ws}ws`, { origin: 'http://evil.example' })).toBe(403);
    expect(await upgradeStatus(`${ws}ws`, { origin: d.origin })).toBe(101);
    const { ws: socket, message } = await firstMessage(`${ws}ws`);
    expect(message).toMatchObject({ type: 'batch', reset: true });
    expect(message.upsert.map((r) => r.kind)).toEqual(['manager']);
    expect(message.charts?.map((c) => c.layout)).toEqual(['shipped', 'shipped', 'shipped']);
    socket.terminate();
  });

  test('rejects bad options with a ConfigurationError naming the field', async () => {
    const m = manager();
    const cases: Array<[unknown, string]> = [
      [{ port: -1 }, 'options.port'],
      [{ port: 1.5 }, 'options.port'],
      [{ port: '80' }, 'options.port'],
      [{ host: '' }, 'options.host'],
      [{ hots: 'localhost' }, 'options.hots'],
      [null, 'options'],
    ];
    for (const [options, field] of cases) {
      const error = await rejection(startDashboard(m, options as never));
      expect(error).toBeInstanceOf(ConfigurationError);
      expect((error as ConfigurationError).field).toBe(field);
    }
    const notManager = await rejection(startDashboard({} as never));
    expect((notManager as ConfigurationError).field).toBe('manager');
  });

  test('rejects when its port is taken, and listens on the port it is given', async () => {
    const d = await dashboard();
    const port = Number(new URL(d.url).port);
    const taken = await rejection(startDashboard(manager(), { port }));
    expect((taken as NodeJS.ErrnoException).code).toBe('EADDRINUSE');
    await d.close();
    const again = await startDashboard(manager(), { port });
    open.push(again);
    expect(new URL(again.url).port).toBe(String(port));
    expect((await fetch(again.url)).status).toBe(200);
  });

  test('close() closes the pages, the server and every listener', async () => {
    const before = activeResources();
    const m = manager();
    const d = await startDashboard(m);
    const { ws, message } = await firstMessage(`${d.url.replace('http:', 'ws:')}ws`);
    expect(message.reset).toBe(true);
    const listeners = (): number => [...m.events.all.values()].reduce((n, list) => n + list.length, 0);
    expect(listeners()).toBeGreaterThan(0);
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    await d.close();
    await closed;
    await d.close();
    expect(listeners()).toBe(0);
    await expect(fetch(d.url)).rejects.toThrow();
    await expect.poll(() => (activeResources().get('TCPServerWrap') ?? 0) <= (before.get('TCPServerWrap') ?? 0)).toBe(true);
    await expect.poll(() => (activeResources().get('TCPSocketWrap') ?? 0) <= (before.get('TCPSocketWrap') ?? 0)).toBe(true);
  });
});
