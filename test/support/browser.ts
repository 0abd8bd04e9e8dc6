/**
 * A headless Chromium for the dashboard's browser tests: Debian's `chromium` package driven by
 * playwright-core (which downloads nothing), with a fresh profile and every background service
 * of the browser off, so the only traffic is the page's. Missing Chromium fails the tests with
 * the command that installs it: they are not skipped.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface TestBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}: the dashboard's browser tests need it. Install it with ` +
        '`apt-get install -y chromium` (Debian; .ci/run does this), or set CHROMIUM_PATH.',
    );
  }
  const profile = mkdtempSync(join(tmpdir(), 'cmk-dashboard-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: ARGS,
    viewport: { width: 1400, height: 860 },
    deviceScaleFactor: 1,
    // A first start on a fresh machine (cold disk, new profile) can be slow.
    timeout: 60_000,
  });
  // Shorter than a browser test's own timeout, so a step that never happens fails naming itself.
  context.setDefaultTimeout(15_000);
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Lets the page reach `origin` only: every other request is aborted and recorded, and so is
 * any WebSocket to elsewhere. `attempted` lists everything the page asked for.
 */
export async function loopbackOnly(page: Page, origin: string): Promise<{ attempted: string[]; blocked: string[] }> {
  const attempted: string[] = [];
  const blocked: string[] = [];
  await page.route('**/*', async (route) => {
    const url = route.request().url();
    if (new URL(url).origin === origin) await route.continue();
    else {
      blocked.push(url);
      await route.abort('blockedbyclient');
    }
  });
  page.on('request', (request) => attempted.push(request.url()));
  page.on('websocket', (ws) => {
    attempted.push(ws.url());
    if (new URL(ws.url()).host !== new URL(origin).host) blocked.push(ws.url());
  });
  return { attempted, blocked };
}
