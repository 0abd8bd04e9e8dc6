/**
 * `npm run bench:dashboard`: what the dashboard costs with 1,000 connections, and what its page
 * weighs. Not part of `npm run bench` (it needs Chromium: `apt-get install -y chromium`).
 *
 * One process holds the manager and the dashboard server; Chromium shows the page. A pool of
 * 1,000 connections (plain objects: the dashboard sees the same actors whatever the resource)
 * is filled, then 1,000 callers churn through it: acquire, hold 0-20 ms, return, rest 20-100 ms
 * (long enough for each connection to go idle in its actor and back: two transitions a lease).
 * Each phase runs without a page open (the dashboard then subscribes to nothing) and with one,
 * alternated over ROUNDS rounds (default 3), and reports the median of the server process's CPU time per second, the page's messages and
 * bytes per second, and its drawing time per frame and frame intervals.
 *
 * The one subtlety: CPU is the whole process's (`process.cpuUsage`), workload included; the
 * dashboard's cost is the difference between the two runs of a phase. Figures are noisy on
 * a shared machine: compare within one run.
 */
import { gzipSync } from 'node:zlib';
import os from 'node:os';
import { chromium, type Page } from 'playwright-core';
import { startDashboard } from '../src/dashboard/index.js';
import { pageAssets } from '../src/dashboard/generated/page-assets.js';
import { ConnectionManager } from '../src/index.js';

const CONNECTIONS = 1000;
const CHURN_MS = Number(process.env.CHURN_MS ?? 5000);
/** Runs without and with a page, alternated; the table shows each figure's median. */
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

interface PageCounters {
  messages: number;
  bytes: number;
  renders: number;
  renderMsTotal: number;
  renderMsMax: number;
  applyMsTotal: number;
}

interface PhaseResult {
  phase: string;
  /** Acquire + return cycles per second (churn). */
  leasesPerS?: number;
  page: boolean;
  seconds: number;
  cpuMsPerS: number;
  messagesPerS?: number;
  kbPerS?: number;
  rendersPerS?: number;
  renderMsMean?: number;
  renderMsMax?: number;
  applyMsPerS?: number;
  frameP50?: number;
  frameP95?: number;
  frameMax?: number;
}

// Page-side code is passed as source text: tsx compiles functions with a `__name` helper that
// does not exist in the page, and the DOM's types are not in this program.
async function counters(page: Page): Promise<PageCounters> {
  return (await page.evaluate('({ ...window.__dashboard })')) as PageCounters;
}

/** Starts sampling frame intervals (requestAnimationFrame) in the page. */
async function startFrames(page: Page): Promise<void> {
  await page.evaluate(`(() => {
    window.__frames = [];
    window.__framesOn = true;
    let last = performance.now();
    const tick = (t) => {
      window.__frames.push(t - last);
      last = t;
      if (window.__framesOn) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  })()`);
}

async function stopFrames(page: Page): Promise<number[]> {
  return (await page.evaluate(`(() => {
    window.__framesOn = false;
    return window.__frames.slice(1).sort((a, b) => a - b);
  })()`)) as number[];
}

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;

async function phase(name: string, page: Page | undefined, work: () => Promise<void>): Promise<PhaseResult> {
  const before = page === undefined ? undefined : await counters(page);
  if (page !== undefined) await startFrames(page);
  const cpu0 = cpuMs();
  const t0 = performance.now();
  await work();
  // Let the last batch reach the page.
  await sleep(300);
  const seconds = (performance.now() - t0) / 1000;
  const result: PhaseResult = { phase: name, page: page !== undefined, seconds, cpuMsPerS: (cpuMs() - cpu0) / seconds };
  if (page !== undefined && before !== undefined) {
    const frames = await stopFrames(page);
    const after = await counters(page);
    const renders = after.renders - before.renders;
    Object.assign(result, {
      messagesPerS: (after.messages - before.messages) / seconds,
      kbPerS: (after.bytes - before.bytes) / 1024 / seconds,
      rendersPerS: renders / seconds,
      renderMsMean: renders === 0 ? 0 : (after.renderMsTotal - before.renderMsTotal) / renders,
      renderMsMax: after.renderMsMax,
      applyMsPerS: (after.applyMsTotal - before.applyMsTotal) / seconds,
      frameP50: pct(frames, 0.5),
      frameP95: pct(frames, 0.95),
      frameMax: frames[frames.length - 1] ?? 0,
    });
  }
  return result;
}

/** Fills a pool of `CONNECTIONS`, churns through it for CHURN_MS, shuts down. */
async function run(withPage: boolean, openPage: (url: string) => Promise<Page>): Promise<PhaseResult[]> {
  const manager = new ConnectionManager({ cache: { maxConnections: CONNECTIONS } });
  const dashboard = await startDashboard(manager);
  const page = withPage ? await openPage(dashboard.url) : undefined;
  const config = { minConnections: 0, maxConnections: CONNECTIONS };
  const factory = async (): Promise<object> => ({});
  const results: PhaseResult[] = [];
  let held: Array<object | null> = [];
  results.push(
    await phase(`fill ${CONNECTIONS}`, page, async () => {
      held = await Promise.all(Array.from({ length: CONNECTIONS }, () => manager.connectionCache.acquireConnection('load', config, factory)));
      for (const c of held) if (c !== null) manager.connectionCache.returnConnection('load', c);
    }),
  );
  let leases = 0;
  results.push(
    await phase(`churn ${CONNECTIONS} callers`, page, async () => {
      const end = performance.now() + CHURN_MS;
      const caller = async (): Promise<void> => {
        while (performance.now() < end) {
          const c = await manager.connectionCache.acquireConnection('load', config, factory);
          await sleep(Math.random() * 20);
          if (c !== null) manager.connectionCache.returnConnection('load', c);
          leases++;
          await sleep(20 + Math.random() * 80);
        }
      };
      await Promise.all(Array.from({ length: CONNECTIONS }, caller));
    }),
  );
  const churn = results[results.length - 1];
  if (churn !== undefined) churn.leasesPerS = leases / churn.seconds;
  await page?.close();
  await dashboard.close();
  await manager.gracefulShutdown({ timeout: 0 });
  return results;
}

/** Per phase and page/no page: the median of every figure over the rounds. */
function medians(rounds: PhaseResult[][]): PhaseResult[] {
  const groups = new Map<string, PhaseResult[]>();
  for (const r of rounds.flat()) {
    const k = `${r.page ? 1 : 0}${r.phase}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const median = (xs: Array<number | undefined>): number | undefined => {
    const v = xs.filter((x): x is number => x !== undefined).sort((a, b) => a - b);
    return v.length === 0 ? undefined : v[Math.floor(v.length / 2)];
  };
  const phaseOrder = (rounds[0] ?? []).map((r) => r.phase);
  const rank = (r: PhaseResult): number => (r.page ? 100 : 0) + phaseOrder.indexOf(r.phase);
  return [...groups.values()]
    .sort((a, b) => rank(a[0] as PhaseResult) - rank(b[0] as PhaseResult))
    .map((rs) => {
      const first = rs[0] as PhaseResult;
      const out: PhaseResult = { ...first };
      for (const key of Object.keys(first) as Array<keyof PhaseResult>) {
        if (typeof first[key] === 'number') (out as unknown as Record<string, number | undefined>)[key] = median(rs.map((r) => r[key] as number | undefined));
      }
      return out;
    });
}

function pageWeight(chartsJsonBytes: number): { files: number; bytes: number; gzip: number } {
  let bytes = chartsJsonBytes;
  let gzip = 0;
  for (const asset of Object.values(pageAssets)) {
    bytes += Buffer.byteLength(asset.body);
    gzip += gzipSync(asset.body).length;
  }
  return { files: Object.keys(pageAssets).length + 1, bytes, gzip };
}

async function main(): Promise<void> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 860 } });
  let chartsBytes = 0;
  const openPage = async (url: string): Promise<Page> => {
    const page = await context.newPage();
    page.on('response', async (r) => {
      if (r.url().endsWith('charts.json')) chartsBytes = (await r.body()).length;
    });
    await page.goto(url);
    await page.locator('#link.up').waitFor();
    return page;
  };
  const rounds: PhaseResult[][] = [];
  for (let i = 0; i < ROUNDS; i++) {
    // Alternate which goes first, so that a trend in the machine's load hits both alike.
    const order = i % 2 === 0 ? [false, true] : [true, false];
    for (const withPage of order) rounds.push(await run(withPage, openPage));
    console.error(`round ${i + 1}/${ROUNDS} done`);
  }
  await browser.close();
  const results = medians(rounds);

  const f = (n: number | undefined, digits = 1): string => (n === undefined ? '–' : n.toFixed(digits));
  const weight = pageWeight(chartsBytes);
  const load = os.loadavg()[0]?.toFixed(2) ?? '?';
  console.log(`Machine: ${os.cpus()[0]?.model ?? 'unknown'}, ${os.cpus().length} cores, Node ${process.version}; churn ${CHURN_MS} ms; median of ${ROUNDS} rounds; load average ${load} at the end.`);
  console.log(`Page: ${weight.files} files, ${weight.bytes} bytes served (page files ${weight.gzip} bytes gzipped; charts.json ${chartsBytes} bytes).`);
  console.log('');
  console.log('| phase | page open | s | leases/s | server CPU, ms/s | CPU per lease, µs | messages/s | KB/s | draws/s | draw, ms mean / max | frame interval, ms p50 / p95 / max |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of results) {
    console.log(
      `| ${r.phase} | ${r.page ? "yes" : "no"} | ${f(r.seconds)} | ${f(r.leasesPerS, 0)} | ${f(r.cpuMsPerS, 0)} | ${r.leasesPerS === undefined ? '–' : f((r.cpuMsPerS * 1000) / r.leasesPerS)} | ${f(r.messagesPerS)} | ${f(r.kbPerS)} | ${f(r.rendersPerS)} | ${r.page ? `${f(r.renderMsMean)} / ${f(r.renderMsMax)}` : '–'} | ${r.page ? `${f(r.frameP50)} / ${f(r.frameP95)} / ${f(r.frameMax)}` : '–'} |`,
    );
  }
}

await main();
