import { unlinkSync, writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ScenarioRegistry } from '../../src/scenarios/registry.ts';
import { eventually, lineOf, pipelinesCopy } from '../support/scenarios.ts';

function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

describe('scenario registry', () => {
  let files: ReturnType<typeof pipelinesCopy>;
  let registry: ScenarioRegistry;
  let log: ReturnType<typeof capturingLogger>;

  beforeEach(() => {
    files = pipelinesCopy();
    log = capturingLogger();
    registry = new ScenarioRegistry({ dir: files.dir, logger: log.logger, debounceMs: 30 });
  });
  afterEach(() => {
    registry.close();
    files.remove();
  });

  it('loads every scenario file and leaves the model file and files of other kinds alone', () => {
    writeFileSync(files.path('campaign.yaml'), 'kind: campaign\nname: spring\n');
    writeFileSync(files.path('.home.yaml.swp'), 'garbage: [');
    writeFileSync(files.path('notes.txt'), 'kind: scenario');
    registry.loadInitial();
    expect(registry.list().map((s) => s.name)).toEqual(['home', 'similar']);
    expect(registry.errors()).toEqual([]);
  });

  it('refuses to start on a bad file, naming the file, the line and the field', () => {
    files.edit('similar.yaml', (t) => t.replace('limit: 100', 'limit: -1'));
    const line = lineOf(files.path('similar.yaml'), 'limit: -1');
    const message = `${files.path('similar.yaml')}:${line}: candidates.0.limit: must be an integer from 1 to 1000`;
    expect(() => registry.loadInitial()).toThrow(message);
  });

  it('keeps the last good version when an edit is broken, and takes the next good one', () => {
    registry.loadInitial();
    const good = registry.get('home');
    files.edit('home.yaml', (t) => t.replace('factor: 0.5', 'factor: 2'));
    const rejected = registry.reload();
    expect(rejected.changed).toEqual([]);
    expect(registry.get('home')).toBe(good);
    const line = lineOf(files.path('home.yaml'), 'factor: 2');
    expect(rejected.errors).toEqual([
      {
        file: files.path('home.yaml'),
        line,
        field: 'demotions.0.factor',
        message: `${files.path('home.yaml')}:${line}: demotions.0.factor: must be a number from 0 to 1`,
      },
    ]);
    expect(
      log.lines.filter(
        (l) => l.msg === 'scenario file rejected; the last good version keeps serving',
      ),
    ).toEqual([
      expect.objectContaining({
        level: 50,
        file: files.path('home.yaml'),
        line,
        field: 'demotions.0.factor',
      }),
    ]);

    registry.reload();
    expect(log.lines.filter((l) => l.level === 50)).toHaveLength(1);

    files.edit('home.yaml', (t) => t.replace('factor: 2', 'factor: 0.25'));
    expect(registry.reload()).toEqual({ changed: ['home'], errors: [] });
    expect(registry.get('home')?.variants[0]?.plan.demotions).toEqual([
      { when: 'seen', times: 1, factor: 0.25 },
    ]);
    expect(registry.get('home')?.version).not.toBe(good?.version);
  });

  it('picks up edits by watching the directory', async () => {
    registry.loadInitial();
    registry.watch();
    const before = registry.get('similar')?.version;
    files.edit('similar.yaml', (t) => t.replace('default: 6', 'default: 4'));
    await eventually(
      () => registry.get('similar')?.version !== before,
      5000,
      'the edit to be loaded',
    );
    expect(registry.get('similar')?.variants[0]?.plan.k.default).toBe(4);

    writeFileSync(
      files.path('extra.yaml'),
      'kind: scenario\nname: extra\ncandidates:\n  - source: trending\n',
    );
    await eventually(() => registry.get('extra') !== undefined, 5000, 'the new file to be loaded');
  });

  it('removes the scenario of a deleted file', () => {
    registry.loadInitial();
    unlinkSync(files.path('similar.yaml'));
    expect(registry.reload().changed).toEqual(['similar']);
    expect(registry.get('similar')).toBeUndefined();
  });

  it('rejects a second file declaring a name already taken, and keeps the first', () => {
    registry.loadInitial();
    const home = registry.get('home');
    files.edit('similar.yaml', (t) => t.replace('name: similar', 'name: home'));
    const { errors } = registry.reload();
    expect(registry.get('home')).toBe(home);
    expect(registry.get('similar')).toBeUndefined();
    expect(errors).toEqual([
      expect.objectContaining({
        file: files.path('similar.yaml'),
        line: lineOf(files.path('similar.yaml'), 'name: home'),
        field: 'name',
      }),
    ]);
    expect(errors[0]?.message).toContain(
      `"home" is already declared by ${files.path('home.yaml')}`,
    );
  });
});
