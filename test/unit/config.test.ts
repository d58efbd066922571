import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.ts';

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
