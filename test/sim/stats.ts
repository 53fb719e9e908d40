/** Nearest-rank percentile of unsorted samples (0 when there are none). */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return 0;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

/**
 * Mann–Whitney U as an effect size: the probability that a sample of `a` is larger than one of `b`
 * (ties count half). 0.5 when the two distributions are the same; far from it when one is shifted.
 */
export function probabilityOfSuperiority(a: readonly number[], b: readonly number[]): number {
  const all = [...a.map((value) => ({ value, group: 0 })), ...b.map((value) => ({ value, group: 1 }))].sort(
    (x, y) => x.value - y.value,
  );
  // Average ranks over ties.
  let rankSumA = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && (all[j] as { value: number }).value === (all[i] as { value: number }).value) j++;
    const averageRank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) if ((all[k] as { group: number }).group === 0) rankSumA += averageRank;
    i = j;
  }
  const u = rankSumA - (a.length * (a.length + 1)) / 2;
  return u / (a.length * b.length);
}
