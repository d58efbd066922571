import type { ItemRecord, UserRecord } from './records.ts';

/** Step sizes and L2 pulls of one SGD step. */
export interface StepSizes {
  learningRate: number;
  biasLearningRate: number;
  regularization: number;
  biasRegularization: number;
}

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/**
 * One BPR step with weight `weight`: the positive item should outscore the negative one for the
 * user. Updates user, both item vectors and both biases in place. `updateBias` false leaves the
 * biases alone (the pair then only teaches taste, not popularity).
 */
export function pairStep(
  s: StepSizes,
  user: UserRecord,
  pos: ItemRecord,
  neg: ItemRecord,
  weight: number,
  updateBias = true,
): void {
  const { learningRate: lr, regularization: reg, biasLearningRate: blr, biasRegularization: breg } = s;
  const p = user.vec;
  const qi = pos.vec;
  const qj = neg.vec;
  let x = pos.bias - neg.bias;
  for (let f = 0; f < p.length; f++) {
    x += (p[f] as number) * ((qi[f] as number) - (qj[f] as number));
  }
  const g = weight * sigmoid(-x);

  for (let f = 0; f < p.length; f++) {
    const pf = p[f] as number;
    const qif = qi[f] as number;
    const qjf = qj[f] as number;
    p[f] = pf + lr * (g * (qif - qjf) - reg * pf);
    qi[f] = qif + lr * (g * pf - reg * qif);
    qj[f] = qjf + lr * (-g * pf - reg * qjf);
  }
  if (!updateBias) return;
  pos.bias += blr * (g - breg * pos.bias);
  neg.bias += blr * (-g - breg * neg.bias);
}

/** One logistic step towards label 1 (clicked) or 0 (viewed, not clicked). */
export function pointStep(
  s: StepSizes,
  user: UserRecord,
  item: ItemRecord,
  label: 0 | 1,
  weight: number,
): void {
  const { learningRate: lr, regularization: reg, biasLearningRate: blr, biasRegularization: breg } = s;
  const p = user.vec;
  const q = item.vec;
  let x = item.bias;
  for (let f = 0; f < p.length; f++) x += (p[f] as number) * (q[f] as number);
  const g = weight * (label - sigmoid(x));

  for (let f = 0; f < p.length; f++) {
    const pf = p[f] as number;
    const qf = q[f] as number;
    p[f] = pf + lr * (g * qf - reg * pf);
    q[f] = qf + lr * (g * pf - reg * qf);
  }
  item.bias += blr * (g - breg * item.bias);
}

/**
 * One ISGD step (Vinagre et al., 2014): squared error towards 1 for a positive, no negatives and
 * no bias; the baseline rule the BPR update was measured against.
 */
export function isgdStep(s: StepSizes, user: UserRecord, item: ItemRecord, weight: number): void {
  const { learningRate: lr, regularization: reg } = s;
  const p = user.vec;
  const q = item.vec;
  let x = 0;
  for (let f = 0; f < p.length; f++) x += (p[f] as number) * (q[f] as number);
  const err = weight * (1 - x);
  for (let f = 0; f < p.length; f++) {
    const pf = p[f] as number;
    const qf = q[f] as number;
    p[f] = pf + lr * (err * qf - reg * pf);
    q[f] = qf + lr * (err * pf - reg * qf);
  }
}
