import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { freePort, waitFor } from './engine-process.ts';

export const DASHBOARDS_DIR = fileURLToPath(new URL('../../dashboards/', import.meta.url));

/**
 * Path of a Prometheus tool (Debian's `prometheus` package), or undefined (the
 * test skips) when it is not installed; under CI=true a missing tool fails.
 */
export function prometheusTool(name: 'prometheus' | 'promtool'): string | undefined {
  for (const dir of ['/usr/bin', '/usr/local/bin']) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here
    }
  }
  if (process.env.CI === 'true') {
    const fix = 'bash scripts/services.sh install';
    throw new Error(`${name} is not installed, and CI=true requires it: ${fix}`);
  }
  return undefined;
}

/**
 * The repository's dashboards/prometheus.yml, rendered for a test: every job
 * scrapes `targets[job]`, scrape and rule evaluation run every second, and
 * rule files are absolute paths into the repository.
 */
export function renderPrometheusConfig(targets: Record<string, string>): string {
  const config = parse(readRepoFile('prometheus.yml')) as {
    global: Record<string, unknown>;
    rule_files: string[];
    scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }>;
  };
  config.global.scrape_interval = '1s';
  config.global.evaluation_interval = '1s';
  config.rule_files = config.rule_files.map((file) => join(DASHBOARDS_DIR, file));
  for (const job of config.scrape_configs) {
    const target = targets[job.job_name];
    if (target === undefined) throw new Error(`no test target for job ${job.job_name}`);
    job.static_configs = [{ targets: [target] }];
  }
  return stringify(config);
}

/** A file of the repository's dashboards/ folder. */
export function readRepoFile(path: string): string {
  return readFileSync(join(DASHBOARDS_DIR, path), 'utf8');
}

export interface PrometheusProcess {
  url: string;
  dir: string;
  child: ChildProcess;
  logs(): string;
  /** Instant query; throws unless Prometheus answers status success. */
  query(expr: string): Promise<PromResult>;
  stop(): Promise<void>;
}

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export type PromResult =
  | { resultType: 'vector'; result: PromSample[] }
  | { resultType: 'scalar' | 'string'; result: [number, string] }
  | { resultType: 'matrix'; result: unknown[] };

/**
 * Starts a private Prometheus in a temporary directory and waits until it is
 * ready; `config` renders its YAML given its own address.
 */
export async function startPrometheus(
  binary: string,
  config: (self: string) => string,
): Promise<PrometheusProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'freshet-prometheus-'));
  const configFile = join(dir, 'prometheus.yml');
  const port = await freePort();
  writeFileSync(configFile, config(`127.0.0.1:${port}`));
  const child = spawn(
    binary,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;

  const ready = async () => {
    if (child.exitCode !== null) {
      throw new Error(`prometheus exited with ${child.exitCode}:\n${output}`);
    }
    return fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
  };
  await waitFor(ready, 30_000, () => output.slice(-3000));

  return {
    url,
    dir,
    child,
    logs: () => output,
    async query(expr) {
      const response = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: expr })}`);
      const body = (await response.json()) as { status: string; data: PromResult; error?: string };
      if (body.status !== 'success') {
        throw new Error(`query failed: ${expr}\n${body.error ?? response.status}`);
      }
      return body.data;
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
