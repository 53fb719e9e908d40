import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time of a process we started (here: the DynamoDB Local JVM), read from /proc, so a throughput figure
 * can say which side of the socket the time went to. Linux only; elsewhere it reports nothing.
 */

const TICKS_PER_SECOND = 100;

/** The pid whose command line contains every one of `args` (e.g. `-port`, `8123`). */
export function findProcess(args: readonly string[]): number | undefined {
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
        if (args.every((arg) => cmdline.includes(arg))) return Number(entry);
      } catch {
        // The process ended while we looked.
      }
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/** User + system CPU milliseconds of `pid` (all its threads), or NaN when unknown. */
export function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}

export const selfCpuMs = (): number => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
};
