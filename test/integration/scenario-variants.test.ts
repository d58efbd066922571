import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assignVariant } from '../../src/scenarios/buckets.ts';
import { scenarioFromText } from '../../src/scenarios/parse.ts';
import { startEngine, type EngineProcess } from '../support/engine-process.ts';

const USERS = Array.from({ length: 300 }, (_, i) => `visitor-${i * 7919}`);

async function variants(engine: EngineProcess): Promise<string[]> {
  const out: string[] = [];
  for (const user of USERS) {
    const response = await fetch(
      `${engine.url}/v1/users/${user}/recommendations?scenario=home&k=1`,
    );
    expect(response.status).toBe(200);
    const body = (await response.json()) as { scenario: string; variant: string };
    expect(body.scenario).toBe('home');
    out.push(body.variant);
  }
  return out;
}

describe('A/B variants', () => {
  it('are the same in two processes and after a restart, and match the declared hash', async () => {
    const env = { FRESHET_PIPELINES_DIR: 'pipelines' };
    const [a, b] = await Promise.all([startEngine(env), startEngine(env)]);
    let first: string[];
    try {
      first = await variants(a);
      expect(await variants(b)).toEqual(first);
    } finally {
      expect(await a.stop()).toBe(0);
    }
    const restarted = await startEngine(env);
    try {
      expect(await variants(restarted)).toEqual(first);
      expect(await variants(b)).toEqual(first);
    } finally {
      expect(await restarted.stop()).toBe(0);
      expect(await b.stop()).toBe(0);
    }
    const home = scenarioFromText(
      'pipelines/home.yaml',
      readFileSync('pipelines/home.yaml', 'utf8'),
    );
    expect(first).toEqual(USERS.map((u) => assignVariant(home, u).name));
    const control = first.filter((v) => v === 'control').length;
    expect(control).toBeGreaterThan(100);
    expect(control).toBeLessThan(200);
  });
});
