import { describe, it } from 'vitest';
import { chaosServices, ciOptions, expectExactlyOnce } from '../support/chaos-expect.ts';
import { SCENARIOS } from '../support/chaos-scenarios.ts';

const services = chaosServices();

describe.skipIf(services === undefined)('chaos: rebalance', () => {
  it('counts every event exactly once when a member freezes with a batch in flight and another is killed', async () => {
    const options = ciOptions();
    const result = await SCENARIOS.rebalance(services!, options);
    expectExactlyOnce(result, 40_000, options.seed);
  }, 300_000);
});
