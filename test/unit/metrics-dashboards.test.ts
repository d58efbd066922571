import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createMetrics } from '../../src/metrics.ts';
import {
  alertRules,
  alertSignals,
  dashboards,
  metricNames,
  panelQueries,
} from '../support/dashboards.ts';
import { readRepoFile } from '../support/prometheus.ts';

const exported = new Set(
  createMetrics()
    .registry.getMetricsAsArray()
    .map((m) => m.name),
);

/** A queried series name as the registry knows it: histograms without _bucket, _sum, _count. */
function family(name: string): string {
  return name.replace(/_(bucket|sum|count)$/, '');
}

function registered(name: string): boolean {
  return name === 'up' || exported.has(name) || exported.has(family(name));
}

describe('dashboards and alert rules', () => {
  it('query only metrics that freshet exports', () => {
    const queries = [
      ...panelQueries().map((q) => `${q.dashboard} / ${q.panel}: ${q.expr}`),
      ...alertRules().map((r) => `${r.alert}: ${r.expr}`),
    ];
    const unknown = queries.flatMap((q) =>
      metricNames(q)
        .filter((n) => !registered(n))
        .map((n) => `${n} in ${q}`),
    );
    expect(queries.length).toBeGreaterThan(40);
    expect(unknown).toEqual([]);
  });

  it('show every application metric on some panel', () => {
    const shown = new Set(panelQueries().flatMap((q) => metricNames(q.expr)));
    const own = [...exported].filter((n) => !/^freshet_(process|nodejs)_/.test(n));
    const missing = own.filter((n) => ![...shown].some((s) => family(s) === n));
    expect(missing).toEqual([]);
  });

  it('give every alert a severity, a summary, a meaning and an action, and a "signal OP number" condition', () => {
    for (const rule of alertRules()) {
      expect(rule.labels?.severity, rule.alert).toMatch(/^(page|ticket)$/);
      for (const key of ['summary', 'description', 'action']) {
        expect(rule.annotations?.[key]?.length ?? 0, `${rule.alert} ${key}`).toBeGreaterThan(20);
      }
      expect(alertSignals(rule.expr).length, rule.alert).toBeGreaterThan(0);
    }
  });

  it('splits an alert into the signals it compares with thresholds', () => {
    expect(alertSignals('max by (p) (lag{job="a>b"}) > 1000\nand deriv(lag[10m]) >= 0')).toEqual([
      'max by (p) (lag{job="a>b"})',
      'deriv(lag[10m])',
    ]);
    expect(alertSignals('(sum(rate(x[5m])) or vector(0)) / sum(rate(y[5m])) > 0.01')).toEqual([
      '(sum(rate(x[5m])) or vector(0)) / sum(rate(y[5m]))',
    ]);
    expect(() => alertSignals('rate(x[5m]) > rate(y[5m])')).toThrow('signal OP number');
  });

  it('give every panel a description, and read the data source chosen in the dashboard', () => {
    for (const d of dashboards()) {
      expect(d.templating.list.map((v) => v.name)).toEqual(['datasource', 'job', 'instance']);
      for (const panel of d.panels.filter((p) => p.type !== 'row')) {
        const p = panel as typeof panel & { description?: string; datasource?: { uid: string } };
        expect(p.description?.length ?? 0, p.title).toBeGreaterThan(10);
        expect(p.datasource?.uid, p.title).toBe('${datasource}');
      }
    }
  });
});

describe('docker-compose wiring of dashboards/', () => {
  interface ComposeService {
    command?: string[];
    volumes?: string[];
    environment?: Record<string, string>;
  }
  const composeFile = new URL('../../docker-compose.yml', import.meta.url);
  const compose = parse(readFileSync(composeFile, 'utf8')) as { services: Record<string, ComposeService> };

  it('runs Prometheus on dashboards/prometheus.yml, which scrapes the engine service on its port', () => {
    const prometheus = compose.services.prometheus;
    expect(prometheus?.volumes).toContain('./dashboards:/etc/freshet-dashboards:ro');
    expect(prometheus?.command).toContain('--config.file=/etc/freshet-dashboards/prometheus.yml');
    const config = parse(readRepoFile('prometheus.yml')) as {
      rule_files: string[];
      scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
    };
    expect(config.rule_files).toEqual(['alerts.yml']);
    const freshet = config.scrape_configs.find((j) => j.job_name === 'freshet');
    const enginePort = compose.services.engine?.environment?.PORT;
    expect(freshet?.static_configs[0]?.targets).toEqual([`engine:${enginePort}`]);
  });

  it('provisions Grafana with the Prometheus service and the dashboards folder it mounts', () => {
    const grafana = compose.services.grafana;
    expect(grafana?.volumes).toEqual(
      expect.arrayContaining([
        './dashboards/grafana/provisioning:/etc/grafana/provisioning:ro',
        './dashboards/grafana/dashboards:/var/lib/grafana/dashboards:ro',
      ]),
    );
    const sources = parse(readRepoFile('grafana/provisioning/datasources/prometheus.yml')) as {
      datasources: Array<{ type: string; url: string; isDefault: boolean }>;
    };
    expect(sources.datasources).toMatchObject([
      { type: 'prometheus', url: 'http://prometheus:9090', isDefault: true },
    ]);
    const providers = parse(readRepoFile('grafana/provisioning/dashboards/freshet.yml')) as {
      providers: Array<{ type: string; options: { path: string } }>;
    };
    expect(providers.providers).toMatchObject([
      { type: 'file', options: { path: '/var/lib/grafana/dashboards' } },
    ]);
  });
});
