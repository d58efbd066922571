import { describe, it } from 'vitest';
import { chaosServices, ciOptions, expectExactlyOnce } from '../support/chaos-expect.ts';
import { SCENARIOS } from '../support/chaos-scenarios.ts';

const services = chaosServices();

describe.skipIf(services === undefined)('chaos: store-outages', () => {
  it('counts every event exactly once when Redis restarts and ClickHouse stops', async () => {
    const options = ciOptions();
    const result = await SCENARIOS['store-outages'](services!, options);
    expectExactlyOnce(result, 15_500, options.seed);
  }, 300_000);
});
