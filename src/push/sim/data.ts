/** The two public data sets the push simulation replays, read as plain records. */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FreshetError } from '../../errors.ts';
import { readMindImpressions, type MindImpression } from '../../sources/datasets.ts';

/** One impression of the Open Bandit Dataset's random logging policy: a user segment and a click. */
export interface BanditImpression {
  /** The four hashed user features joined, e.g. "men:cef3…|03a5…|7bc9…|9bde…". */
  segment: string;
  clicked: boolean;
}

/** Reads `random/{men,women}/*.csv` of the Open Bandit sample (the uniform logging policy). */
export async function readBanditSample(dir: string): Promise<BanditImpression[]> {
  const out: BanditImpression[] = [];
  for (const campaign of ['men', 'women']) {
    const file = join(dir, 'random', campaign, `${campaign}.csv`);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new FreshetError(
        'dataset_invalid',
        `${file}: cannot read (${(err as NodeJS.ErrnoException).code})`,
        { cause: err },
      );
    }
    const [header = '', ...lines] = text.split('\n');
    const columns = header.trim().split(',');
    const at = (name: string) => {
      const index = columns.indexOf(name);
      if (index < 0) throw new FreshetError('dataset_invalid', `${file}: no column "${name}"`);
      return index;
    };
    const click = at('click');
    const features = [0, 1, 2, 3].map((k) => at(`user_feature_${k}`));
    lines.forEach((line, i) => {
      if (line.trim() === '') return;
      const fields = line.split(',');
      const value = fields[click];
      if (value !== '0' && value !== '1') {
        throw new FreshetError('dataset_invalid', `${file}:${i + 2}: click must be 0 or 1`);
      }
      out.push({
        segment: `${campaign}:${features.map((f) => fields[f]).join('|')}`,
        clicked: value === '1',
      });
    });
  }
  return out;
}

/** Half of the users, chosen by a hash of their id: `fit` or `loop`. */
export function foldOf(userId: string, salt: string): 'fit' | 'loop' {
  const byte = createHash('sha256').update(`${salt}\u0000${userId}`).digest()[0] as number;
  return byte % 2 === 0 ? 'fit' : 'loop';
}

export interface SimData {
  impressions: MindImpression[];
  bandit: BanditImpression[];
}

export async function readSimData(datasetsDir: string): Promise<SimData> {
  const [impressions, bandit] = await Promise.all([
    readMindImpressions(join(datasetsDir, 'mind-small-subset', 'behaviors.tsv')),
    readBanditSample(join(datasetsDir, 'open-bandit-sample')),
  ]);
  return { impressions, bandit };
}
