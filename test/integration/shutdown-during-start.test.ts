import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ENGINE_ENV, ENGINE_NODE_FLAGS } from '../../src/node-flags.ts';
import { freePort, waitFor } from '../support/engine-process.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

// No server is needed: the engine is pointed at a Redis port where nothing listens, so that its
// start waits (it retries until Redis answers) while the test signals it.
describe('an engine signalled while it starts', () => {
  it('stops gracefully and exits 0 rather than being killed by the signal', async () => {
    const [port, redisPort] = [await freePort(), await freePort()];
    const child = spawn(process.execPath, [...ENGINE_NODE_FLAGS, 'src/cli.ts', 'run'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/root',
        ...ENGINE_ENV,
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'info',
        REDIS_URL: `redis://127.0.0.1:${redisPort}`,
        SHUTDOWN_TIMEOUT_MS: '20000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    try {
      // The start is under way: it has tried Redis and waits to try again.
      await waitFor(async () => output.includes('the engine starts once they are; retrying'), 30_000, () => output);
      expect(output).not.toContain('freshet is running');
      child.kill('SIGTERM');
      expect(await exited).toEqual({ code: 0, signal: null });
      expect(output).toContain('"msg":"shutting down"');
      expect(output).toContain('"msg":"stopped"');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }, 60_000);
});
