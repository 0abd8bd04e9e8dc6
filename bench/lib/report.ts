import os from 'node:os';
import type { Summary } from './stats.js';
import type { ScenarioResult, Unit } from './scenario.js';

export interface MachineInfo {
  cpu: string;
  cores: number;
  node: string;
  platform: string;
  date: string;
}

export interface RunInfo {
  quick: boolean;
  contenders: string[];
  skipped: Array<{ contender: string; reason: string }>;
  scenarios: string[];
  durationSeconds: number;
  /** 1-minute load average when the run started and ended: other work on the machine skews figures. */
  loadAverage: { start: number; end: number };
}

export interface ResultsFile {
  machine: MachineInfo;
  run: RunInfo;
  scenarios: ScenarioResult[];
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    date: new Date().toISOString(),
  };
}

/** Compact number for a table cell, in the metric's unit ("-0.000" reads as "0.000"). */
export function formatValue(value: number, unit: Unit): string {
  const text = formatRaw(value, unit);
  return /^-[0.]+$/.test(text) ? text.slice(1) : text;
}

function formatRaw(value: number, unit: Unit): string {
  if (!Number.isFinite(value)) return 'n/a';
  const abs = Math.abs(value);
  switch (unit) {
    case 'ops/s':
    case 'req/s':
      if (abs >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
      if (abs >= 1e5) return `${(value / 1e3).toFixed(0)}k`;
      if (abs >= 1e3) return `${(value / 1e3).toFixed(1)}k`;
      return value.toFixed(0);
    case 'ms':
      if (abs >= 100) return value.toFixed(0);
      if (abs >= 10) return value.toFixed(1);
      return value.toFixed(2);
    case 's':
      return value.toFixed(abs >= 10 ? 1 : 2);
    case 'count':
      return Number.isInteger(value) ? String(value) : value.toFixed(1);
    case 'B':
      return value.toFixed(0);
    case 'MB':
      return value.toFixed(abs >= 10 ? 1 : 3);
    case 'exponent':
      return value.toFixed(2);
    case 'ratio':
      // Small ratios (0.0004×) keep two significant digits rather than reading 0.00×.
      return `${abs >= 100 ? value.toFixed(0) : abs >= 10 ? value.toFixed(1) : abs >= 0.1 || abs === 0 ? value.toFixed(2) : value.toPrecision(2)}×`;
  }
}

export function formatSummary(s: Summary | undefined, unit: Unit): string {
  if (s === undefined || s.n === 0) return 'n/a';
  const med = formatValue(s.median, unit);
  if (s.n === 1) return med;
  const lo = formatValue(s.min, unit);
  const hi = formatValue(s.max, unit);
  return lo === hi ? med : `${med} (${lo}–${hi})`;
}

export function machineLine(machine: MachineInfo, run: RunInfo): string {
  return (
    `Machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ${machine.platform}; ` +
    `${machine.date.slice(0, 10)}; ${run.quick ? 'quick (smoke) run' : 'full run'}, ${run.durationSeconds.toFixed(0)} s; ` +
    `load average ${run.loadAverage.start.toFixed(2)} at start, ${run.loadAverage.end.toFixed(2)} at end.`
  );
}

export function scenarioMarkdown(result: ScenarioResult): string {
  const lines: string[] = [];
  lines.push(`### ${result.title}`, '');
  lines.push(`${result.description} Median of ${result.rounds} interleaved round(s), (min–max) in brackets.`, '');
  const header = ['contender', ...result.metrics.map((m) => `${m.label} ${m.better === 'higher' ? '↑' : '↓'}`)];
  lines.push(`| ${header.join(' | ')} |`);
  lines.push(`| ${header.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`);
  for (const row of result.rows) {
    const name = row.version && row.version !== 'bench' ? `${row.name} ${row.version}` : row.name;
    const cells = result.metrics.map((m) => formatSummary(row.figures[m.key], m.unit));
    lines.push(`| ${[name, ...cells].join(' | ')} |`);
  }
  if (result.figures !== undefined && result.figures.length > 0) {
    lines.push('', '| figure | value | target | met |', '| --- | ---: | --- | --- |');
    for (const f of result.figures) {
      const met = f.met === undefined ? '' : f.met ? 'yes' : 'no';
      lines.push(`| ${f.label} | ${formatValue(f.value, f.unit)} | ${f.target ?? ''} | ${met} |`);
    }
  }
  if (result.notes.length > 0) {
    lines.push('');
    for (const note of result.notes) lines.push(`- ${note}`);
  }
  return lines.join('\n');
}

export function resultsMarkdown(file: ResultsFile, contenderNotes: ReadonlyArray<{ name: string; notes: string }>): string {
  const parts: string[] = [];
  parts.push('## Benchmarks', '');
  parts.push(machineLine(file.machine, file.run), '');
  if (file.run.skipped.length > 0) {
    for (const s of file.run.skipped) parts.push(`Skipped contender \`${s.contender}\`: ${s.reason}`, '');
  }
  for (const scenario of file.scenarios) parts.push(scenarioMarkdown(scenario), '');
  parts.push('#### Contenders', '');
  for (const c of contenderNotes) parts.push(`- \`${c.name}\`: ${c.notes}`);
  parts.push('', 'Produced by `npm run bench` (bench/run.ts); raw samples per round are in results.json.', '');
  return parts.join('\n');
}
