import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/env.ts';
import { createEngine } from '../../src/engine.ts';

describe('engine start-up', () => {
  it('names PORT when the port is taken, and stops what it started', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    try {
      const engine = createEngine(loadConfig({ PORT: String(port), HOST: '127.0.0.1' }), pino({ level: 'silent' }));
      const error = await engine.start().then(() => undefined, (err: unknown) => err);
      expect(error).toMatchObject({ code: 'config_invalid', field: 'PORT' });
      expect((error as Error).message).toMatch(new RegExp(`^cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
    } finally {
      taken.close();
    }
  });

  it('names HOST when the address is not one of this machine', async () => {
    // A documentation-only address (RFC 5737): binding fails locally, nothing is sent.
    const engine = createEngine(loadConfig({ PORT: '0', HOST: '198.51.100.7' }), pino({ level: 'silent' }));
    await expect(engine.start()).rejects.toMatchObject({ code: 'config_invalid', field: 'HOST' });
  });

  it('waits for Redis before it consumes or serves, and gives up without serving when stopped meanwhile', async () => {
    // A loopback port nothing listens on.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const env = { PORT: '0', HOST: '127.0.0.1', REDIS_URL: `redis://127.0.0.1:${port}` };
    const engine = createEngine(loadConfig(env), pino({ level: 'silent' }));
    const started = engine.start().then(() => 'started', (err: unknown) => err);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(engine.api.server.listening).toBe(false);
    await engine.stop();
    expect(await started).toMatchObject({ code: 'stopped', message: 'the engine was stopped while it started' });
    expect(engine.api.server.listening).toBe(false);
  }, 15_000);
});
