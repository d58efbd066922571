import { readdirSync } from 'node:fs';
import { parse } from 'yaml';
import { readRepoFile } from './prometheus.ts';

/** One PromQL query of a Grafana panel. */
export interface PanelQuery {
  dashboard: string;
  panel: string;
  refId: string;
  expr: string;
}

interface GrafanaPanel {
  title: string;
  type: string;
  panels?: GrafanaPanel[];
  targets?: Array<{ refId: string; expr: string }>;
}

export interface GrafanaDashboard {
  uid: string;
  title: string;
  panels: GrafanaPanel[];
  templating: { list: Array<{ name: string; type: string; query: unknown }> };
}

export function dashboards(): GrafanaDashboard[] {
  return readdirSync(new URL('../../dashboards/grafana/dashboards/', import.meta.url))
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => JSON.parse(readRepoFile(`grafana/dashboards/${file}`)) as GrafanaDashboard);
}

/** Every query of every panel, rows included. */
export function panelQueries(): PanelQuery[] {
  const out: PanelQuery[] = [];
  const walk = (dashboard: string, panels: GrafanaPanel[]) => {
    for (const panel of panels) {
      for (const { refId, expr } of panel.targets ?? []) {
        out.push({ dashboard, panel: panel.title, refId, expr });
      }
      walk(dashboard, panel.panels ?? []);
    }
  };
  for (const d of dashboards()) walk(d.uid, d.panels);
  return out;
}

/** Replaces the dashboards' Grafana variables, as Grafana would for one job and all instances. */
export function renderGrafanaExpr(
  expr: string,
  vars: { rateInterval: string; job: string },
): string {
  return expr
    .replaceAll('$__rate_interval', vars.rateInterval)
    .replaceAll('$job', vars.job)
    .replaceAll('$instance', '.+');
}

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export function alertRules(): AlertRule[] {
  const file = parse(readRepoFile('alerts.yml')) as { groups: Array<{ rules: AlertRule[] }> };
  return file.groups.flatMap((g) => g.rules);
}

/** Splits `text` at `separator` where it is outside brackets and quotes. */
function splitTopLevel(text: string, separator: RegExp): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quote !== undefined) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') quote = c;
    else if ('({['.includes(c)) depth++;
    else if (')}]'.includes(c)) depth--;
    else if (depth === 0) {
      const match = separator.exec(text.slice(i));
      if (match?.index === 0) {
        parts.push(text.slice(start, i));
        i += match[0].length - 1;
        start = i + 1;
      }
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim());
}

/**
 * The signals an alert compares with thresholds. The rules are written as
 * `signal OP number`, several joined by `and`; a signal is what must have data
 * for the alert to be able to fire at all.
 */
export function alertSignals(expr: string): string[] {
  return splitTopLevel(expr.replace(/\s+/g, ' '), /^ (and|or|unless) /).map((condition) => {
    const [signal, threshold] = splitTopLevel(condition, /^ ?(==|!=|>=|<=|>|<) ?/);
    if (signal === undefined || threshold === undefined || !/^-?[\d.]+(e-?\d+)?$/.test(threshold)) {
      throw new Error(`alert condition is not "signal OP number": ${condition}`);
    }
    return signal;
  });
}

/** Names of the metrics a PromQL expression reads (freshet's own and `up`). */
export function metricNames(expr: string): string[] {
  return [...new Set(expr.match(/\b(freshet_[a-z0-9_]+|up)\b(?=\s*[{[)])/g) ?? [])];
}
