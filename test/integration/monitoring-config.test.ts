import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { DASHBOARDS_DIR, prometheusTool, renderPrometheusConfig } from '../support/prometheus.ts';

const run = promisify(execFile);
const promtool = prometheusTool('promtool');

async function check(...args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await run(promtool as string, ['check', ...args]);
    return stdout + stderr;
  } catch (err) {
    const { stdout, stderr } = err as { stdout: string; stderr: string };
    throw new Error(`promtool check ${args.join(' ')} failed:\n${stdout}${stderr}`);
  }
}

describe.skipIf(promtool === undefined)('promtool on dashboards/', () => {
  it('accepts the Prometheus config of the repository, with its rule file', async () => {
    const output = await check('config', join(DASHBOARDS_DIR, 'prometheus.yml'));
    expect(output).toContain('SUCCESS: 1 rule files found');
    expect(output).toContain('is valid prometheus config file syntax');
  });

  it('accepts the alert rules', async () => {
    const output = await check('rules', join(DASHBOARDS_DIR, 'alerts.yml'));
    expect(output).toMatch(/SUCCESS: 10 rules found/);
  });

  it('accepts the config rendered for a test engine', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'freshet-promtool-'));
    try {
      const file = join(dir, 'prometheus.yml');
      const targets = { freshet: '127.0.0.1:18080', prometheus: '127.0.0.1:19999' };
      writeFileSync(file, renderPrometheusConfig(targets));
      expect(await check('config', file)).toContain('SUCCESS: 1 rule files found');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
