import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ENGINE_ENV, ENGINE_NODE_FLAGS } from '../../src/node-flags.ts';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('the V8 settings of the engine process', () => {
  it('are passed by npm start and by the container image, before the engine command', () => {
    const start = read('scripts/start.sh').split('\n').find((line) => line.startsWith('exec node '));
    expect(start).toBe(`exec node ${ENGINE_NODE_FLAGS.join(' ')} src/cli.ts run "$@"`);
    const cmd = read('Dockerfile').split('\n').find((line) => line.startsWith('CMD '));
    expect(cmd).toBe(`CMD ${JSON.stringify(['node', ...ENGINE_NODE_FLAGS, 'src/cli.ts', 'run']).replaceAll(',', ', ')}`);
  });

  it('come with the C allocator settings in the environment of npm start and of the container image', () => {
    const settings = Object.entries(ENGINE_ENV);
    expect(settings.length).toBeGreaterThan(0);
    const start = read('scripts/start.sh').split('\n');
    const docker = read('Dockerfile').split('\n');
    for (const [name, value] of settings) {
      expect(start).toContain(`export ${name}=${value}`);
      expect(docker).toContain(`ENV ${name}=${value}`);
    }
    // Set before the engine starts: glibc reads them once, at the process's start.
    expect(start.findIndex((line) => line.startsWith('export MALLOC_'))).toBeLessThan(start.findIndex((line) => line.startsWith('exec node ')));
    expect(docker.findIndex((line) => line.startsWith('ENV MALLOC_'))).toBeLessThan(docker.findIndex((line) => line.startsWith('CMD ')));
  });

  it('are taken by this runtime', async () => {
    const { execFileSync } = await import('node:child_process');
    // The young generation once some short-lived objects went through it: Node.js 26 commits it
    // only as it fills, Node.js 24 at once.
    const script =
      'let kept = []; for (let i = 0; i < 2e6; i++) { kept.push({ i }); if (kept.length > 1000) kept = []; } ' +
      "console.log(require('v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size)";
    const young = (flags: readonly string[]) => Number(execFileSync(process.execPath, [...flags, '-e', script], { encoding: 'utf8' }));
    // At least one 64 MiB semi-space; left to itself, V8 keeps a few MiB for this load.
    expect(young(ENGINE_NODE_FLAGS)).toBeGreaterThanOrEqual(64 * 2 ** 20);
    expect(young([])).toBeLessThan(64 * 2 ** 20);
  });
});
