import { describe } from 'vitest';
import { RedisStateStore } from '../../src/state/redis.ts';
import { stateStoreContract } from '../contract/state-store.ts';
import { service, uniqueName } from '../support/services.ts';

const url = service('REDIS_URL');

describe.skipIf(url === undefined)('redis', () => {
  stateStoreContract('redis', async () =>
    new RedisStateStore({ url: url as string, prefix: `${uniqueName('t')}:`, dimensions: 4 }),
  );
});
