import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A private pipelines directory holding copies of the shipped model, home and similar files. */
export function pipelinesCopy(): {
  dir: string;
  path(name: string): string;
  edit(name: string, change: (text: string) => string): void;
  remove(): void;
} {
  const dir = mkdtempSync(join(tmpdir(), 'freshet-pipelines-'));
  for (const name of ['model.yaml', 'home.yaml', 'similar.yaml'])
    copyFileSync(join('pipelines', name), join(dir, name));
  return {
    dir,
    path: (name) => join(dir, name),
    /** Rewrites a file in place, as an editor that saves over it would. */
    edit(name, change) {
      const path = join(dir, name);
      writeFileSync(path, change(readFileSync(path, 'utf8')));
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Resolves once `check` holds, polling every 20 ms; fails after `timeoutMs`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** 1-based number of the first line of a file that contains `needle`. */
export function lineOf(path: string, needle: string): number {
  const index = readFileSync(path, 'utf8')
    .split('\n')
    .findIndex((line) => line.includes(needle));
  if (index < 0) throw new Error(`${needle} is not in ${path}`);
  return index + 1;
}
