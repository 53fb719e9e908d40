import type { Progress } from './delivery.ts';

/** Where progress goes: stderr (stdout stays for the summary and `--json`), or a test's capture. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

/**
 * Progress on stderr, never silent for long: a line at the start, then at least every `intervalMs`
 * (default 2 s) whether or not a notification finished, so a run whose every delivery is refused and
 * retried with backoff still shows what it is doing. On a terminal the line is redrawn in place (at most 10
 * times a second); elsewhere (CI logs) a new line is printed every interval and at the end.
 */
export function progressBar(stream: ProgressStream = process.stderr, options: { intervalMs?: number } = {}) {
  const intervalMs = options.intervalMs ?? 2000;
  const width = 30;
  const started = Date.now();
  let latest: Progress | undefined;
  let lastDraw = 0;
  let total = 0;

  const line = () => {
    const p = latest ?? {
      done: 0,
      total,
      accepted: 0,
      gaveUp: 0,
      retried: 0,
      retrying: 0,
      requests: 0,
      elapsedMs: 0,
    };
    const share = p.total === 0 ? 0 : p.done / p.total;
    const filled = Math.round(share * width);
    const elapsed = (Date.now() - started) / 1000;
    return (
      `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${p.done}/${p.total} ${(share * 100).toFixed(0).padStart(3)}%` +
      ` sent ${p.requests} accepted ${p.accepted} retrying ${p.retrying} given up ${p.gaveUp}` +
      ` (${elapsed.toFixed(1)} s)`
    );
  };
  const draw = () => {
    lastDraw = Date.now();
    stream.write(stream.isTTY ? `\r${line()}\x1b[K` : `${line()}\n`);
  };
  const timer = setInterval(
    () => {
      if (Date.now() - lastDraw >= intervalMs - 50) draw();
    },
    Math.min(250, intervalMs),
  );
  timer.unref?.();

  return {
    /** The first line, before anything is sent. */
    start(count: number) {
      total = count;
      draw();
    },
    update(p: Progress) {
      latest = p;
      if (stream.isTTY && Date.now() - lastDraw >= 100) draw();
    },
    end() {
      clearInterval(timer);
      if (latest) draw();
      if (stream.isTTY) stream.write('\n');
    },
  };
}
