import { Redis } from 'ioredis';
import { describe } from 'vitest';
import { RedisExposureStore } from '../../src/scenarios/exposure-redis.ts';
import { EXPOSURE_OPTIONS, exposureStoreContract } from '../contract/exposure-store.ts';
import { service, uniqueName } from '../support/services.ts';

const url = service('REDIS_URL');

describe.skipIf(url === undefined)('redis', () => {
  let client: Redis;
  exposureStoreContract(
    'redis',
    async () => {
      client = new Redis(url as string);
      return new RedisExposureStore(client, `${uniqueName('x')}:`, EXPOSURE_OPTIONS);
    },
    async () => {
      await client.quit();
    },
  );
});
