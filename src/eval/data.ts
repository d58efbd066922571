import type { InteractionEvent } from '../events/schema.ts';
import {
  readBrunch,
  readMindImpressions,
  readMovieLens,
  type DatasetFormat,
  type MindImpression,
} from '../sources/datasets.ts';

export type EvalData =
  | { format: 'movielens' | 'brunch'; kind: 'clicks'; events: InteractionEvent[] }
  | { format: 'mind'; kind: 'impressions'; impressions: MindImpression[] };

export interface LoadOptions {
  /** Earliest N source records: ratings, impressions or reads. */
  limit?: number;
  /** Brunch only: hours of reads from the first one (24 = one day). */
  hours?: number;
}

const HOUR_MS = 3_600_000;

/**
 * A data set in event-time order, as the evaluation replays it. MovieLens ratings are all
 * clicks (a rating is a positive interaction, whatever its value); brunch reads are clicks;
 * MIND keeps its impressions whole, with history and labels.
 */
export async function loadEvalData(
  format: DatasetFormat,
  path: string,
  opts: LoadOptions = {},
): Promise<EvalData> {
  switch (format) {
    case 'movielens': {
      const events = await readMovieLens(path, { limit: opts.limit, clickThreshold: 0 });
      return { format, kind: 'clicks', events: events.filter((e) => e.type === 'click') };
    }
    case 'mind': {
      const impressions = await readMindImpressions(path, { limit: opts.limit });
      return { format, kind: 'impressions', impressions };
    }
    case 'brunch': {
      const events: InteractionEvent[] = [];
      let end = Number.POSITIVE_INFINITY;
      for await (const event of readBrunch(path, { limit: opts.limit })) {
        if (events.length === 0 && opts.hours !== undefined) end = event.ts + opts.hours * HOUR_MS;
        if (event.ts >= end) break;
        events.push(event);
      }
      return { format, kind: 'clicks', events };
    }
  }
}
