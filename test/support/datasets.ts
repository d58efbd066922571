import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { datasetsDir } from '../../src/sources/datasets.ts';

/**
 * Path of a file in the shared data sets, or undefined (the test skips) when
 * they are absent; under CI=true a missing data set is a failure.
 */
export function datasetFile(...parts: string[]): string | undefined {
  const path = join(datasetsDir(), ...parts);
  if (existsSync(path)) return path;
  if (process.env.CI === 'true') throw new Error(`data set file ${path} is missing (set FRESHET_DATASETS_DIR)`);
  return undefined;
}
