/**
 * The statecharts the dashboard draws, and where their layout comes from. Layouts are
 * computed at build time (`npm run dashboard:generate` → `generated/chart-layouts.ts`), so
 * the published package carries a few kilobytes of coordinates instead of elkjs.
 *
 * The one subtlety: a machine may have changed since its layout was generated (in a working
 * tree). Each start compares the machine's graph with the one the layout was made from (by
 * fingerprint); a stale layout is recomputed if elkjs is installed (it is in development),
 * and otherwise served as it is, marked stale, so the page says so. The test suite fails on a
 * stale layout (test/dashboard.generated.test.ts), so a published package never has one.
 */
import type { AnyStateMachine } from 'xstate';
import { connectionMachine } from '../../machines/connection.machine.js';
import { managerMachine } from '../../machines/manager.machine.js';
import { poolMachine } from '../../machines/pool.machine.js';
import { chartGraph } from './chart-graph.js';
import { fingerprint, layoutChart } from './chart-layout.js';
import type { ChartLayout } from './chart-types.js';
import { chartLayouts } from './generated/chart-layouts.js';
import type { ChartStatus } from './protocol.js';

/** The machines drawn, in the order of the page's tabs. */
export const chartMachines: readonly AnyStateMachine[] = [managerMachine, poolMachine, connectionMachine];

export interface Charts {
  layouts: ChartLayout[];
  status: ChartStatus[];
}

/** The layouts to serve: the shipped ones, or fresh ones where those are stale. */
export async function resolveCharts(
  machines: readonly AnyStateMachine[] = chartMachines,
  shipped: Readonly<Record<string, ChartLayout>> = chartLayouts,
): Promise<Charts> {
  const layouts: ChartLayout[] = [];
  const status: ChartStatus[] = [];
  for (const machine of machines) {
    const graph = chartGraph(machine);
    const existing = shipped[machine.id];
    if (existing !== undefined && existing.fingerprint === fingerprint(graph)) {
      layouts.push(existing);
      status.push({ machine: machine.id, layout: 'shipped' });
      continue;
    }
    try {
      layouts.push(await layoutChart(graph));
      status.push({ machine: machine.id, layout: 'computed' });
    } catch {
      // elkjs is not installed (a published package): serve what there is, marked stale.
      if (existing !== undefined) layouts.push(existing);
      status.push({ machine: machine.id, layout: 'stale' });
    }
  }
  return { layouts, status };
}
