import { describe, it } from 'vitest';
import { chaosServices, ciOptions, expectExactlyOnce } from '../support/chaos-expect.ts';
import { SCENARIOS } from '../support/chaos-scenarios.ts';

const services = chaosServices();

describe.skipIf(services === undefined)('chaos: kill', () => {
  it('counts every event exactly once when the engine is SIGKILLed at random moments and restarted', async () => {
    const options = ciOptions();
    const result = await SCENARIOS.kill(services!, options);
    expectExactlyOnce(result, 20_000, options.seed);
  }, 300_000);
});
