import { describe } from 'vitest';
import { RedisPushStore } from '../../src/push/redis-store.ts';
import { RedisStateStore } from '../../src/state/redis.ts';
import { pushStoreContract } from '../contract/push-store.ts';
import { service, uniqueName } from '../support/services.ts';

const url = service('REDIS_URL');

describe.skipIf(url === undefined)('redis', () => {
  pushStoreContract('redis', async () => {
    const prefix = `${uniqueName('p')}:`;
    const state = new RedisStateStore({ url: url as string, prefix, dimensions: 4 });
    return { state, push: new RedisPushStore(state.client, prefix) };
  });
});
