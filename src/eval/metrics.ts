/** Ranking metrics of one tested event or one impression. */

/** nDCG@k of a single relevant item at 0-based `rank` (-1 when it is not in the list). */
export function singleNdcg(rank: number, k = 10): number {
  return rank >= 0 && rank < k ? 1 / Math.log2(rank + 2) : 0;
}

/**
 * Area under the ROC curve of scores against 0/1 labels: the chance that a clicked candidate
 * outscores a shown one, ties counting half. Undefined without both labels.
 */
export function auc(scores: readonly number[], labels: readonly boolean[]): number | undefined {
  const score = (i: number) => scores[i] as number;
  const order = scores.map((_, i) => i).sort((a, b) => score(a) - score(b));
  let positives = 0;
  let rankSum = 0;
  let i = 0;
  while (i < order.length) {
    let j = i;
    while (j + 1 < order.length && score(order[j + 1] as number) === score(order[i] as number)) j++;
    const midRank = (i + j) / 2 + 1;
    for (let t = i; t <= j; t++) {
      if (labels[order[t] as number] === true) {
        positives++;
        rankSum += midRank;
      }
    }
    i = j + 1;
  }
  const negatives = order.length - positives;
  if (positives === 0 || negatives === 0) return undefined;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/**
 * Candidate order, best first; ties are broken by `tieBreak` (a stable pseudo-random key per
 * candidate) so that an undecided ranker is neither helped nor hurt by the list's order.
 */
export function rankOrder(scores: readonly number[], tieBreak: readonly number[]): number[] {
  const score = (i: number) => scores[i] as number;
  const key = (i: number) => tieBreak[i] as number;
  return scores.map((_, i) => i).sort((a, b) => score(b) - score(a) || key(a) - key(b));
}

/** Mean reciprocal rank of the clicked candidates (MIND's MRR). */
export function mrr(order: readonly number[], labels: readonly boolean[]): number {
  let sum = 0;
  let clicks = 0;
  order.forEach((index, rank) => {
    if (labels[index] === true) {
      sum += 1 / (rank + 1);
      clicks++;
    }
  });
  return clicks === 0 ? 0 : sum / clicks;
}

/** nDCG@k of a ranked candidate list with 0/1 labels. */
export function ndcg(order: readonly number[], labels: readonly boolean[], k = 10): number {
  let dcg = 0;
  for (let rank = 0; rank < Math.min(k, order.length); rank++) {
    if (labels[order[rank] as number] === true) dcg += 1 / Math.log2(rank + 2);
  }
  const relevant = labels.filter((l) => l).length;
  let ideal = 0;
  for (let rank = 0; rank < Math.min(k, relevant); rank++) ideal += 1 / Math.log2(rank + 2);
  return ideal === 0 ? 0 : dcg / ideal;
}

/** Running mean. */
export class Mean {
  private sum = 0;
  count = 0;

  add(value: number): void {
    this.sum += value;
    this.count++;
  }

  get value(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }
}
