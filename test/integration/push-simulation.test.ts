import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { datasetFile } from '../support/datasets.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const mind = datasetFile('mind-small-subset', 'behaviors.tsv');
const bandit = datasetFile('open-bandit-sample', 'random', 'men', 'men.csv');

interface Row {
  name: string;
  role: 'loop' | 'baseline';
  sends: number;
  clicks: number;
  expectedClicks: number;
  lift: number;
}

describe.skipIf(mind === undefined || bandit === undefined)(
  'freshet simulate-push on MIND and Open Bandit',
  () => {
    it('compares the loop with baselines of the same sends, as JSON', async () => {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ['src/cli.ts', 'simulate-push', '--json'],
        {
          cwd: ROOT,
          maxBuffer: 1 << 20,
        },
      );
      const { rows } = JSON.parse(stdout) as { rows: Row[] };
      expect(rows.map((r) => [r.name, r.role])).toEqual([
        ['loop (staged, model audience)', 'loop'],
        ['random audience, same sends per content', 'baseline'],
        ['popularity only (heaviest readers first)', 'baseline'],
        ['all eligible users at once', 'baseline'],
        ['random, loop total split evenly', 'baseline'],
      ]);
      for (const r of rows) {
        expect(Object.keys(r).sort()).toEqual([
          'clicks',
          'expectedClicks',
          'lift',
          'name',
          'role',
          'sends',
        ]);
        expect(r.lift).toBeCloseTo(r.clicks / r.expectedClicks, 9);
      }
      const [loop, random, , all, even] = rows as [Row, Row, Row, Row, Row];
      // The weekly cap makes the audience the limit: every strategy spends about all of it.
      expect(Math.abs(random.sends - loop.sends)).toBeLessThanOrEqual(loop.sends * 0.02);
      expect(Math.abs(even.sends - loop.sends)).toBeLessThanOrEqual(loop.sends * 0.1);
      // The loop's verdicts put the sends where the lift is; pushing without feedback does not.
      expect(loop.lift).toBeGreaterThanOrEqual(2.4);
      expect(all.lift).toBeLessThan(2.4);
      expect(even.lift).toBeLessThan(2.4);
    });
  },
);
