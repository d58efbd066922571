import { describe, it } from 'vitest';
import { chaosServices, ciOptions, expectExactlyOnce } from '../support/chaos-expect.ts';
import { SCENARIOS } from '../support/chaos-scenarios.ts';

const services = chaosServices();

describe.skipIf(services === undefined)('chaos: shutdown', () => {
  it('counts every event exactly once when SIGTERM lands in the middle of a backlog', async () => {
    const options = ciOptions();
    const result = await SCENARIOS.shutdown(services!, options);
    expectExactlyOnce(result, 30_000, options.seed);
  }, 300_000);
});
