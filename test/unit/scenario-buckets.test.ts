import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assignVariant, bucketPoint } from '../../src/scenarios/buckets.ts';
import { scenarioFromText } from '../../src/scenarios/parse.ts';

const USERS = 100_000;
/** SHA-256("home\0home\0u1"), first 48 bits over 2^48, computed independently (Python hashlib). */
const PINNED_U1 = '0.716111315587';

function shares(text: string): Map<string, number> {
  const scenario = scenarioFromText('s.yaml', text);
  const counts = new Map<string, number>();
  for (let i = 0; i < USERS; i++) {
    const name = assignVariant(scenario, `user-${i}`).name;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return new Map([...counts].map(([name, n]) => [name, n / USERS]));
}

const THREE_WAY = `kind: scenario
name: split
candidates: [{ source: model }]
variants:
  - { name: a, share: 0.2 }
  - { name: b, share: 0.3 }
  - { name: c, share: 0.5 }
  - { name: off, share: 0 }
`;

describe('A/B buckets', () => {
  it('splits 100,000 users within 1 point of the declared shares of home.yaml', () => {
    const split = shares(readFileSync('pipelines/home.yaml', 'utf8'));
    expect(Math.abs((split.get('control') ?? 0) - 0.5)).toBeLessThan(0.01);
    expect(Math.abs((split.get('fresh-first') ?? 0) - 0.5)).toBeLessThan(0.01);
  });

  it('splits within 1 point of uneven shares, and never picks a zero share', () => {
    const split = shares(THREE_WAY);
    expect(Math.abs((split.get('a') ?? 0) - 0.2)).toBeLessThan(0.01);
    expect(Math.abs((split.get('b') ?? 0) - 0.3)).toBeLessThan(0.01);
    expect(Math.abs((split.get('c') ?? 0) - 0.5)).toBeLessThan(0.01);
    expect(split.has('off')).toBe(false);
  });

  it('is a pure function of scenario, salt and user: pinned values hold in any process', () => {
    expect(bucketPoint('home', 'home-2026-12', 'u1')).toBe(
      bucketPoint('home', 'home-2026-12', 'u1'),
    );
    // Pinned: a change of hash would move users between variants in running experiments.
    expect(bucketPoint('home', 'home', 'u1').toFixed(12)).toBe(PINNED_U1);
    expect(bucketPoint('home', 'other-salt', 'u1')).not.toBe(bucketPoint('home', 'home', 'u1'));
    expect(bucketPoint('similar', 'home', 'u1')).not.toBe(bucketPoint('home', 'home', 'u1'));
  });

  it('changes about half of the users when the salt changes', () => {
    const scenario = scenarioFromText('s.yaml', readFileSync('pipelines/home.yaml', 'utf8'));
    const resalted = { ...scenario, salt: 'another' };
    let moved = 0;
    for (let i = 0; i < 10_000; i++) {
      if (assignVariant(scenario, `u${i}`).name !== assignVariant(resalted, `u${i}`).name) moved++;
    }
    expect(moved / 10_000).toBeGreaterThan(0.45);
    expect(moved / 10_000).toBeLessThan(0.55);
  });

  it('gives anonymous requests the first variant', () => {
    const scenario = scenarioFromText('s.yaml', THREE_WAY);
    expect(assignVariant(scenario, undefined).name).toBe('a');
  });
});
