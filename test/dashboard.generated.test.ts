/**
 * The dashboard's generated modules (the page's files, the machines' chart layouts) must match
 * their sources: the package ships them, not the sources. If this fails after you changed a
 * machine or the page, run `npm run dashboard:generate`.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { createMachine } from 'xstate';
import { connectionMachine } from '../machines/connection.machine.js';
import { managerMachine } from '../machines/manager.machine.js';
import { poolMachine } from '../machines/pool.machine.js';
import { chartGraph } from '../src/dashboard/chart-graph.js';
import type { Box } from '../src/dashboard/chart-types.js';
import { chartMachines, resolveCharts } from '../src/dashboard/charts.js';
import { generatedFiles } from '../src/dashboard/generate.js';
import { chartLayouts } from '../src/dashboard/generated/chart-layouts.js';

const inside = (inner: Box, outer: Box): boolean =>
  inner.x >= outer.x && inner.y >= outer.y && inner.x + inner.width <= outer.x + outer.width && inner.y + inner.height <= outer.y + outer.height;

/** Every state node's path, walked from the machine's own definition. */
function statePaths(config: { states?: Record<string, unknown> }, prefix = ''): string[] {
  const out: string[] = [];
  for (const [key, child] of Object.entries(config.states ?? {})) {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    out.push(path, ...statePaths(child as { states?: Record<string, unknown> }, path));
  }
  return out;
}

describe('dashboard: generated modules', () => {
  test('are up to date with the page and the machines (else: npm run dashboard:generate)', async () => {
    for (const file of await generatedFiles()) {
      const current = readFileSync(file.path, 'utf8');
      expect(current === file.content, `${file.path} is stale: run npm run dashboard:generate`).toBe(true);
    }
  });

  test('the shipped layouts are the ones served, and draw every state of every machine inside its parent', async () => {
    const { status, layouts } = await resolveCharts();
    expect(status.map((s) => s.layout)).toEqual(chartMachines.map(() => 'shipped'));
    for (const machine of [managerMachine, poolMachine, connectionMachine]) {
      const layout = layouts.find((l) => l.machine === machine.id);
      expect(layout, machine.id).toBeDefined();
      if (layout === undefined) continue;
      expect(layout).toBe(chartLayouts[machine.id]);
      const paths = layout.states.map((s) => s.path);
      expect(paths.sort()).toEqual(['', ...statePaths(machine.config as { states?: Record<string, unknown> })].sort());
      for (const s of layout.states) {
        const parent = layout.states.find((p) => p.path === s.parent);
        if (parent !== undefined) expect(inside(s, parent), `${machine.id}: ${s.path} inside ${parent.path}`).toBe(true);
      }
      for (const t of layout.transitions) expect(t.points.length, `${machine.id}: ${t.id} is routed`).toBeGreaterThanOrEqual(2);
    }
  });

  test('reads transitions generically: events with guards, after delays, always, invoke results, targetless ones inside', () => {
    const machine = createMachine({
      id: 'door',
      initial: 'closed',
      states: {
        closed: { on: { OPEN: { target: 'open', guard: 'unlocked' }, KNOCK: { actions: () => {} } } },
        open: {
          invoke: { id: 'alarm', src: 'alarm', onDone: 'closed', onError: 'broken' },
          after: { 5000: 'closed' },
        },
        broken: { always: 'closed' },
      },
    });
    const graph = chartGraph(machine);
    const labels = graph.transitions.map((t) => `${t.source}→${t.target} ${t.kind} ${t.label}`).sort();
    expect(labels).toEqual([
      'broken→closed always always',
      'closed→open event OPEN [unlocked]',
      'open→broken error error: alarm',
      'open→closed after after 5 s',
      'open→closed done done: alarm',
    ]);
    const closed = graph.states.find((s) => s.path === 'closed');
    expect(closed?.internal.map((t) => t.label)).toEqual(['KNOCK']);
    expect(graph.states.find((s) => s.path === '')?.initial).toBe('closed');
    expect(graph.transitions.find((t) => t.kind === 'after')?.eventType).toBe('xstate.after.5000.door.open');
  });

  test('a machine that changed since its layout was made is laid out afresh at start', async () => {
    const changed = createMachine({ id: 'pool', initial: 'a', states: { a: { on: { GO: 'b' } }, b: {} } });
    const { status, layouts } = await resolveCharts([changed]);
    expect(status).toEqual([{ machine: 'pool', layout: 'computed' }]);
    expect(layouts[0]?.states.map((s) => s.path)).toEqual(['', 'a', 'b']);
  });
});
