import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ENGINE_NODE_FLAGS } from '../../src/node-flags.ts';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('the V8 settings of the engine process', () => {
  it('are passed by npm start and by the container image, before the engine command', () => {
    const start = read('scripts/start.sh').split('\n').find((line) => line.startsWith('exec node '));
    expect(start).toBe(`exec node ${ENGINE_NODE_FLAGS.join(' ')} src/cli.ts run "$@"`);
    const cmd = read('Dockerfile').split('\n').find((line) => line.startsWith('CMD '));
    expect(cmd).toBe(`CMD ${JSON.stringify(['node', ...ENGINE_NODE_FLAGS, 'src/cli.ts', 'run']).replaceAll(',', ', ')}`);
  });

  it('are taken by this runtime', async () => {
    const { execFileSync } = await import('node:child_process');
    const script = "console.log(require('v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size)";
    const young = Number(execFileSync(process.execPath, [...ENGINE_NODE_FLAGS, '-e', script], { encoding: 'utf8' }));
    // A semi-space of 64 MiB from the start (V8 otherwise starts at a few MiB and grows it).
    expect(young).toBeGreaterThanOrEqual(64 * 2 ** 20);
  });
});
