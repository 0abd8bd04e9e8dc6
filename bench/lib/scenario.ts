import type { Contender } from '../contenders/types.js';
import { summarize, type Summary } from './stats.js';

export const SCENARIO_IDS = ['micro', 'tcp', 'spike', 'outage', 'restart', 'aborts', 'scale', 'memory'] as const;
export type ScenarioId = (typeof SCENARIO_IDS)[number];

/** `exponent`: a fitted growth exponent (1 = linear); `ratio`: one figure over another (×). */
export type Unit = 'ops/s' | 'req/s' | 'ms' | 'count' | 'B' | 'MB' | 's' | 'exponent' | 'ratio';

export interface MetricDef {
  key: string;
  /** Column header, unit included (e.g. "recovery, ms"). */
  label: string;
  unit: Unit;
  better: 'higher' | 'lower';
}

export interface ScenarioContext {
  quick: boolean;
  rounds: number;
  contenders: readonly Contender[];
}

export interface ResultRow {
  name: string;
  version: string;
  figures: Record<string, Summary>;
}

/**
 * A figure computed from the table (a growth exponent, one contender over another), with the
 * target an issue set for it. Targets are for reading, not assertions: `met` only says
 * whether this run's figure is within it.
 */
export interface DerivedFigure {
  key: string;
  label: string;
  value: number;
  unit: Unit;
  /** The target, in words (e.g. "≤ 1.15"). */
  target?: string;
  /** Whether `value` meets the target; absent without a target or a finite value. */
  met?: boolean;
}

/** A derived figure checked against an upper bound (`value <= max`). */
export function atMost(key: string, label: string, value: number, unit: Unit, max: number, target: string): DerivedFigure {
  return { key, label, value, unit, target, ...(Number.isFinite(value) ? { met: value <= max } : {}) };
}

export interface ScenarioResult {
  id: ScenarioId;
  /** A scenario with several tables returns one result per table, each named by its part. */
  part?: string;
  title: string;
  /** What was done, in one or two sentences (printed above the table). */
  description: string;
  rounds: number;
  metrics: MetricDef[];
  rows: ResultRow[];
  notes: string[];
  /** Figures derived from the rows (exponents, ratios), printed below the table. */
  figures?: DerivedFigure[];
}

/** Collects one sample per round per (row, metric); rows keep their first-seen order. */
export class Samples {
  private readonly rows = new Map<string, { version: string; values: Map<string, number[]> }>();

  constructor(rowOrder: ReadonlyArray<{ name: string; version: string }>) {
    for (const { name, version } of rowOrder) this.rows.set(name, { version, values: new Map() });
  }

  add(row: string, metric: string, value: number): void {
    let entry = this.rows.get(row);
    if (entry === undefined) {
      entry = { version: '', values: new Map() };
      this.rows.set(row, entry);
    }
    const list = entry.values.get(metric);
    if (list === undefined) entry.values.set(metric, [value]);
    else list.push(value);
  }

  toRows(): ResultRow[] {
    const out: ResultRow[] = [];
    for (const [name, { version, values }] of this.rows) {
      const figures: Record<string, Summary> = {};
      for (const [metric, list] of values) figures[metric] = summarize(list);
      out.push({ name, version, figures });
    }
    return out;
  }
}
