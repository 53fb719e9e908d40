/**
 * Simulated time for code that takes `now` and `sleep`. Two ways to drive it:
 * - `run(promise)`: sleepers wait for the clock; whenever nothing else can run, the clock jumps to the
 *   earliest sleeper and wakes it (any number of concurrent sleepers; no I/O in flight, or it is skipped).
 * - `autoAdvance`: `sleep(ms)` moves the clock on by `ms` at once (one caller at a time, real I/O allowed).
 */
export class VirtualClock {
  time: number;
  readonly slept: number[] = [];
  private timers: { at: number; seq: number; wake: () => void }[] = [];
  private seq = 0;

  constructor(
    start = 0,
    private readonly autoAdvance = false,
  ) {
    this.time = start;
  }

  readonly now = (): number => this.time;

  readonly sleep = (ms: number): Promise<void> => {
    this.slept.push(ms);
    if (this.autoAdvance) {
      this.time += Math.max(0, ms);
      return Promise.resolve();
    }
    return new Promise((wake) => {
      this.timers.push({ at: this.time + Math.max(0, ms), seq: this.seq++, wake });
    });
  };

  async run<T>(promise: Promise<T>): Promise<T> {
    let settled = false;
    promise.then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    for (;;) {
      // Let every pending callback run before deciding that only timers are left.
      await new Promise((resolve) => setImmediate(resolve));
      if (settled) return promise;
      if (this.timers.length === 0) {
        throw new Error('nothing left to run: the awaited work waits on something other than the clock');
      }
      // Jump to the earliest sleeper and wake everyone due then, in the order they went to sleep.
      const at = Math.min(...this.timers.map((timer) => timer.at));
      const due = this.timers.filter((timer) => timer.at === at).sort((a, b) => a.seq - b.seq);
      this.timers = this.timers.filter((timer) => timer.at !== at);
      this.time = Math.max(this.time, at);
      for (const timer of due) timer.wake();
    }
  }
}

/** The largest number of `times` inside any window `[t, t + windowMs)`. */
export function maxInWindow(times: readonly number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while ((sorted[end] ?? 0) - (sorted[start] ?? 0) >= windowMs) start++;
    most = Math.max(most, end - start + 1);
  }
  return most;
}
