import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEngine, type EngineProcess } from '../support/engine-process.ts';
import { eventually, lineOf, pipelinesCopy } from '../support/scenarios.ts';
import { service, uniqueName } from '../support/services.ts';

type Json = Record<string, any>;
const url = service('REDIS_URL');

async function seed(engine: EngineProcess): Promise<void> {
  const now = Date.now() - 60_000;
  const events = [];
  for (let u = 0; u < 20; u++) {
    for (let i = 0; i < 20; i++) {
      events.push({ type: 'view', userId: `u${u}`, itemId: `i${i}`, ts: now + u * 100 + i });
      if ((u + i) % 3 === 0)
        events.push({ type: 'click', userId: `u${u}`, itemId: `i${i}`, ts: now + u * 100 + i + 1 });
    }
  }
  const response = await fetch(`${engine.url}/v1/events`, {
    method: 'POST',
    body: JSON.stringify(events),
  });
  expect(((await response.json()) as Json).rejected).toBe(0);
}

async function version(engine: EngineProcess, name: string): Promise<string | undefined> {
  const body = (await (await fetch(`${engine.url}/v1/scenarios`)).json()) as Json;
  return body.scenarios.find((s: Json) => s.name === name)?.version;
}

describe.skipIf(url === undefined)('scenario files edited under a running freshet process', () => {
  const files = pipelinesCopy();
  let engine: EngineProcess;

  beforeAll(async () => {
    // Six workers over 20 users would soon exhaust the `shown: 5` filter and shorten
    // answers, racing the reload; this test is about the reload, so the filter stays out.
    files.edit('home.yaml', (t) => t.replace('shown: 5 ', 'shown: 1000000 '));
    engine = await startEngine({
      REDIS_URL: url as string,
      REDIS_PREFIX: `${uniqueName('reload')}:`,
      FRESHET_PIPELINES_DIR: files.dir,
      SCENARIO_RELOAD_DEBOUNCE_MS: '100',
    });
    await seed(engine);
  });
  afterAll(async () => {
    if (engine) expect(await engine.stop()).toBe(0);
    files.remove();
  });

  it('takes an edit without a restart and keeps serving the last good version after a broken one, failing no request', async () => {
    const statuses = new Map<number, number>();
    const seen: Json[] = [];
    let running = true;
    const worker = async (n: number) => {
      for (let i = 0; running; i++) {
        const user = `u${(n * 7 + i) % 20}`;
        const response = await fetch(
          `${engine.url}/v1/users/${user}/recommendations?scenario=home`,
        );
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        if (response.ok) {
          const body = (await response.json()) as Json;
          seen.push({ version: body.version, count: body.items.length, at: Date.now() });
        } else {
          seen.push({ error: await response.text() });
        }
      }
    };
    const workers = Array.from({ length: 6 }, (_, n) => worker(n));
    try {
      const first = await version(engine, 'home');
      await eventually(() => seen.length > 20, 10_000, 'requests before the edit');

      files.edit('home.yaml', (t) => t.replace('default: 10', 'default: 7'));
      await eventually(
        async () => (await version(engine, 'home')) !== first,
        10_000,
        'the edit to be loaded',
      );
      const second = await version(engine, 'home');
      await eventually(
        () => seen.some((s) => s.version === second),
        10_000,
        'an answer of the new version',
      );
      // The edit lowers k's default from 10 to 7.
      expect(Math.max(...seen.filter((s) => s.version === second).map((s) => s.count))).toBe(7);
      expect(Math.max(...seen.filter((s) => s.version === first).map((s) => s.count))).toBe(10);

      files.edit('home.yaml', (t) => t.replace('default: 7', 'default: 70'));
      const line = lineOf(files.path('home.yaml'), 'default: 70');
      const expected = `${files.path('home.yaml')}:${line}: k.default: must be an integer from 1 to 30`;
      await eventually(
        async () =>
          ((await (await fetch(`${engine.url}/v1/scenarios`)).json()) as Json).errors.length > 0,
        10_000,
        'the broken edit to be rejected',
      );
      const listed = (await (await fetch(`${engine.url}/v1/scenarios`)).json()) as Json;
      expect(listed.errors).toEqual([
        { file: files.path('home.yaml'), line, field: 'k.default', message: expected },
      ]);
      expect(await version(engine, 'home')).toBe(second);
      const after = seen.length;
      await eventually(() => seen.length > after + 20, 10_000, 'requests after the broken edit');
      expect(seen.slice(after).every((s) => s.version === second)).toBe(true);
      expect(engine.logs()).toContain(expected);
    } finally {
      running = false;
      await Promise.all(workers);
    }
    expect(seen.filter((s) => s.error !== undefined)).toEqual([]);
    expect([...statuses.keys()]).toEqual([200]);
  });
});

describe.skipIf(url === undefined)('SIGHUP', () => {
  it("reloads the scenario files at once, whatever the watch's quiet time", async () => {
    const files = pipelinesCopy();
    const engine = await startEngine({
      REDIS_URL: url as string,
      REDIS_PREFIX: `${uniqueName('hup')}:`,
      FRESHET_PIPELINES_DIR: files.dir,
      SCENARIO_RELOAD_DEBOUNCE_MS: '60000',
    });
    try {
      const first = await version(engine, 'similar');
      files.edit('similar.yaml', (t) => t.replace('default: 6', 'default: 5'));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await version(engine, 'similar')).toBe(first);
      engine.child.kill('SIGHUP');
      await eventually(
        async () => (await version(engine, 'similar')) !== first,
        5000,
        'the SIGHUP reload',
      );
      expect(engine.logs()).toContain('SIGHUP: reloading scenario files');
    } finally {
      expect(await engine.stop()).toBe(0);
      files.remove();
    }
  });
});
