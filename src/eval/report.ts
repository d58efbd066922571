import type { EvalReport } from './suite.ts';

function fixed(value: number | undefined, digits: number): string {
  return value === undefined ? '-' : value.toFixed(digits);
}

function grouped(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

/** The report as one plain-text table, columns aligned, the model's row first. */
export function formatTable(report: EvalReport): string {
  const header = ['name', 'role', ...report.metrics, 'evaluated', 'events/s', 'seconds', 'parameters'];
  const lines = report.rows.map((row) => [
    row.name,
    row.role,
    ...report.metrics.map((m) => fixed(row.metrics[m], 4)),
    grouped(row.evaluated),
    grouped(row.eventsPerSecond),
    row.seconds.toFixed(1),
    row.params,
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...lines.map((l) => (l[c] as string).length)));
  const last = header.length - 1;
  const align = (cell: string, c: number): string => {
    if (c === last) return cell;
    const width = widths[c] as number;
    return c >= 2 ? cell.padStart(width) : cell.padEnd(width);
  };
  const render = (cells: string[]) => cells.map(align).join('  ');
  return [render(header), ...lines.map(render)].join('\n');
}

/** The report for scripts: `{ dataset, rows: [{ name, role, metrics, eventsPerSecond, ... }] }`. */
export function toJson(report: EvalReport): unknown {
  return {
    dataset: report.dataset,
    rows: report.rows.map((row) => ({
      name: row.name,
      role: row.role,
      metrics: row.metrics,
      eventsPerSecond: Math.round(row.eventsPerSecond),
      evaluated: row.evaluated,
      params: row.params,
    })),
  };
}
