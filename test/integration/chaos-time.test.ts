import { describe, it } from 'vitest';
import { chaosServices, ciOptions, expectExactlyOnce } from '../support/chaos-expect.ts';
import { SCENARIOS } from '../support/chaos-scenarios.ts';

const services = chaosServices();

describe.skipIf(services === undefined)('chaos: time', () => {
  it('counts every event exactly once when events arrive early, late and out of order', async () => {
    const options = ciOptions();
    const result = await SCENARIOS.time(services!, options);
    expectExactlyOnce(result, 8, options.seed);
  }, 300_000);
});
