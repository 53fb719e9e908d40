import type { Progress } from './delivery.ts';

/**
 * A plain progress bar on stderr (stdout stays for the summary and `--json`), redrawn at most 10 times a
 * second. On a terminal it redraws one line; elsewhere (CI logs) it prints a line every 10 %.
 */
export function progressBar(stream: NodeJS.WriteStream = process.stderr, width = 30) {
  let lastDraw = 0;
  let lastDecile = -1;
  const line = (p: Progress) => {
    const share = p.total === 0 ? 1 : p.done / p.total;
    const filled = Math.round(share * width);
    const rate = p.elapsedMs > 0 ? (p.done / p.elapsedMs) * 1000 : 0;
    return (
      `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${p.done}/${p.total} ${(share * 100).toFixed(0).padStart(3)}%` +
      ` accepted ${p.accepted} retried ${p.retried} given up ${p.gaveUp} ${rate.toFixed(0)}/s`
    );
  };
  return {
    update(p: Progress) {
      if (stream.isTTY) {
        const now = Date.now();
        if (now - lastDraw < 100 && p.done < p.total) return;
        lastDraw = now;
        stream.write(`\r${line(p)}\x1b[K`);
        return;
      }
      const decile = Math.floor((p.total === 0 ? 1 : p.done / p.total) * 10);
      if (decile !== lastDecile) {
        lastDecile = decile;
        stream.write(`${line(p)}\n`);
      }
    },
    end() {
      if (stream.isTTY && lastDraw > 0) stream.write('\n');
    },
  };
}
