/**
 * Area under the ROC curve via the rank-sum (Mann-Whitney U) statistic; tied scores get
 * their average rank, so a constant predictor scores exactly 0.5.
 */
export function auc(labels: ArrayLike<number | boolean>, scores: ArrayLike<number>): number {
  const n = labels.length;
  if (scores.length !== n) throw new Error(`auc: ${n} labels but ${scores.length} scores`);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => scores[a]! - scores[b]!);
  let pos = 0;
  let rankSumPos = 0;
  let i = 0;
  while (i < n) {
    let j = i + 1;
    while (j < n && scores[order[j]!] === scores[order[i]!]) j++;
    const avgRank = (i + 1 + j) / 2; // ranks i+1..j
    for (let k = i; k < j; k++) {
      if (Number(labels[order[k]!])) {
        pos++;
        rankSumPos += avgRank;
      }
    }
    i = j;
  }
  const neg = n - pos;
  if (pos === 0 || neg === 0) return Number.NaN;
  return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

export function rmse(labels: ArrayLike<number | boolean>, scores: ArrayLike<number>): number {
  const n = labels.length;
  if (scores.length !== n) throw new Error(`rmse: ${n} labels but ${scores.length} scores`);
  if (n === 0) return Number.NaN;
  let s = 0;
  for (let i = 0; i < n; i++) {
    const d = Number(labels[i]) - scores[i]!;
    s += d * d;
  }
  return Math.sqrt(s / n);
}

/** Mean negative log-likelihood, clipped so a confident miss costs a large but finite amount. */
export function logLoss(labels: ArrayLike<number | boolean>, scores: ArrayLike<number>): number {
  const n = labels.length;
  let s = 0;
  for (let i = 0; i < n; i++) {
    const p = Math.min(1 - 1e-12, Math.max(1e-12, scores[i]!));
    s -= Number(labels[i]) ? Math.log(p) : Math.log(1 - p);
  }
  return s / n;
}
