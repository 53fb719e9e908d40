import { Session } from 'node:inspector/promises';
import { packageOf } from './bundles.ts';

/**
 * In-process CPU profile of one measured section (the V8 sampling profiler through node:inspector), summed
 * by package or project file, so a figure that misses its target comes with where the time went.
 */

export interface ProfileEntry {
  name: string;
  /** Share of the section's sampled time spent in this package's own code (self time). */
  share: number;
  ms: number;
}

interface ProfileNode {
  id: number;
  callFrame: { url: string; functionName: string };
  hitCount?: number;
}

function ownerOf(url: string, functionName: string): string {
  if (url === '')
    return functionName === '(garbage collector)' ? '(gc)' : `(native) ${functionName || 'anonymous'}`;
  const path = url.replace(/^file:\/\//, '');
  if (path.includes('node_modules/')) return packageOf(path);
  if (path.startsWith('node:')) return path;
  const project = path.match(/\/(shared|functions|infra|test)\/(.*)$/);
  return project ? `${project[1]}/${project[2]}` : path;
}

export async function profileSection<T>(
  section: () => Promise<T>,
): Promise<{ result: T; entries: ProfileEntry[] }> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 100 });
    await session.post('Profiler.start');
    const result = await section();
    const { profile } = await session.post('Profiler.stop');
    const nodes = profile.nodes as ProfileNode[];
    const totalMs = (profile.endTime - profile.startTime) / 1000;
    const hits = nodes.reduce((sum, node) => sum + (node.hitCount ?? 0), 0);
    const byOwner = new Map<string, number>();
    for (const node of nodes) {
      if (!node.hitCount) continue;
      const owner = ownerOf(node.callFrame.url, node.callFrame.functionName);
      byOwner.set(owner, (byOwner.get(owner) ?? 0) + node.hitCount);
    }
    const entries = [...byOwner.entries()]
      .map(([name, count]) => ({ name, share: count / hits, ms: (count / hits) * totalMs }))
      .sort((a, b) => b.share - a.share);
    return { result, entries };
  } finally {
    session.disconnect();
  }
}
