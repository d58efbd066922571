import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.ts';
import { pushParams } from '../../src/push/params.ts';

describe('index settings', () => {
  it('scans the bound index from 20,000 items unless told otherwise', () => {
    expect(loadConfig({}).indexBoundMinItems).toBe(20_000);
    expect(loadConfig({ INDEX_BOUND_MIN_ITEMS: '500' }).indexBoundMinItems).toBe(500);
  });

  it('names the field of a bad value', () => {
    expect(() => loadConfig({ INDEX_BOUND_MIN_ITEMS: 'many' })).toThrow(
      expect.objectContaining({ code: 'config_invalid', field: 'INDEX_BOUND_MIN_ITEMS' }),
    );
  });

  for (const name of ['INDEX_CLUSTER_PROBES', 'INDEX_CLUSTER_MIN_ITEMS']) {
    it(`refuses ${name}, a setting of the replaced cluster index, rather than ignore it`, () => {
      expect(() => loadConfig({ [name]: '16' })).toThrow(expect.objectContaining({ code: 'config_invalid', field: name }));
      expect(() => loadConfig({ [name]: '16' })).toThrow(/no longer read: recommendations are exact; INDEX_BOUND_MIN_ITEMS/);
    });
  }
});

describe('kafka settings', () => {
  const kafka = { KAFKA_BROKERS: '127.0.0.1:9092' };

  it('fetches up to 2 MiB a partition unless told otherwise', () => {
    expect(loadConfig(kafka).kafka?.maxBytesPerPartition).toBe(2 * 2 ** 20);
    expect(loadConfig({ ...kafka, KAFKA_MAX_BYTES_PER_PARTITION: '1048576' }).kafka?.maxBytesPerPartition).toBe(2 ** 20);
  });

  it('refuses a fetch size below 1 KiB, naming the field', () => {
    expect(() => loadConfig({ ...kafka, KAFKA_MAX_BYTES_PER_PARTITION: '100' })).toThrow(
      expect.objectContaining({ code: 'config_invalid', field: 'KAFKA_MAX_BYTES_PER_PARTITION' }),
    );
  });
});

describe('log level', () => {
  it('logs at info unless told otherwise, and takes any level the logger knows', () => {
    expect(loadConfig({}).logLevel).toBe('info');
    expect(loadConfig({ LOG_LEVEL: 'silent' }).logLevel).toBe('silent');
  });

  it('refuses an unknown level, naming the field and the levels', () => {
    expect(() => loadConfig({ LOG_LEVEL: 'bogus' })).toThrow(expect.objectContaining({ code: 'config_invalid', field: 'LOG_LEVEL' }));
    expect(() => loadConfig({ LOG_LEVEL: 'bogus' })).toThrow('LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent, got "bogus"');
  });
});

describe('push settings', () => {
  it('keeps stopped campaigns 30 days unless told otherwise', () => {
    const retention = (env: Record<string, string>) => pushParams(loadConfig(env).push.params).retentionMs;
    expect(retention({})).toBe(30 * 86_400_000);
    expect(retention({ PUSH_RETENTION_MS: '172800000' })).toBe(172_800_000);
  });

  it('refuses a retention no longer than the campaigns live, in the variables names', () => {
    const day = 86_400_000;
    expect(() => loadConfig({ PUSH_RETENTION_MS: String(2 * day), PUSH_EXPIRY_MS: String(3 * day) })).toThrow(
      expect.objectContaining({ code: 'config_invalid', field: 'PUSH_RETENTION_MS' }),
    );
    expect(() => loadConfig({ PUSH_EXPIRY_MS: String(40 * day) })).toThrow(
      `PUSH_RETENTION_MS must be longer than PUSH_EXPIRY_MS (${40 * day}), got ${30 * day}`,
    );
    expect(() => loadConfig({ PUSH_RETENTION_MS: '1000' })).toThrow('PUSH_RETENTION_MS must be an integer from 86400000 to 315360000000, got "1000"');
  });
});

describe('numbers', () => {
  it('takes decimal digits only, naming the variable otherwise', () => {
    expect(loadConfig({ ITEM_TTL_MS: ' 3000 ' }).itemTtlMs).toBe(3000);
    for (const raw of ['1e4', '0x10', 'Infinity', '3000ms', '3.5']) {
      expect(() => loadConfig({ ITEM_TTL_MS: raw })).toThrow(`ITEM_TTL_MS must be an integer from 0 to 315360000000, got "${raw}"`);
    }
    expect(pushParams(loadConfig({ PUSH_TARGET_LIFT: '1.5' }).push.params).targetLift).toBe(1.5);
    expect(() => loadConfig({ PUSH_TARGET_LIFT: '1e0' })).toThrow(expect.objectContaining({ field: 'PUSH_TARGET_LIFT' }));
  });
});
