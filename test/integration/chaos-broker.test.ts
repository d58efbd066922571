import { describe, it } from 'vitest';
import { chaosServices, ciOptions, expectExactlyOnce } from '../support/chaos-expect.ts';
import { SCENARIOS } from '../support/chaos-scenarios.ts';

const services = chaosServices();

describe.skipIf(services === undefined)('chaos: broker-restart', () => {
  it('counts every event exactly once when Kafka restarts under load', async () => {
    const options = ciOptions();
    const result = await SCENARIOS['broker-restart'](services!, options);
    expectExactlyOnce(result, 10_000, options.seed);
  }, 300_000);
});
