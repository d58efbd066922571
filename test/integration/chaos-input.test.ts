import { describe, it } from 'vitest';
import { chaosServices, ciOptions, expectExactlyOnce } from '../support/chaos-expect.ts';
import { SCENARIOS } from '../support/chaos-scenarios.ts';

const services = chaosServices();

describe.skipIf(services === undefined)('chaos: bad-input', () => {
  it('counts every event exactly once when fuzzed messages are interleaved with good events', async () => {
    const options = ciOptions();
    const result = await SCENARIOS['bad-input'](services!, options);
    expectExactlyOnce(result, 5_000, options.seed);
  }, 300_000);
});
