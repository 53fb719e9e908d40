import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildBundle, packageOf } from './bundles.ts';
import { coldRun } from './cold-start.ts';

/**
 * Where a cold start's time goes: the bundle built unminified (esbuild marks each input with a
 * `// path` comment, so a profiled function's line says which package it came from), one fresh `node` per
 * run under `--cpu-prof`, self time summed by package over the runs. Time outside the bundle is Node's
 * own (module loading, `(program)` for parsing and compiling, `(garbage collector)`).
 */

export interface ColdProfileEntry {
  name: string;
  ms: number;
}

interface ProfileNode {
  id: number;
  callFrame: { url: string; functionName: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function sections(bundleText: string): { line: number; owner: string }[] {
  const result: { line: number; owner: string }[] = [];
  bundleText.split('\n').forEach((text, line) => {
    // A worktree whose node_modules is a link names packages by their real path (`../../main/node_modules/…`).
    const match = /^\/\/ ((?:\S*\/)?(?:node_modules|shared|functions|test|infra)\/\S+)$/.exec(text);
    if (match?.[1])
      result.push({ line, owner: process.env.PROFILE_BY_FILE ? match[1] : packageOf(match[1]) });
  });
  return result;
}

function ownerAt(map: { line: number; owner: string }[], line: number): string {
  let owner = '(bundle prologue)';
  for (const section of map) {
    if (section.line > line) break;
    owner = section.owner;
  }
  return owner;
}

export async function profileColdStart(options: {
  name: string;
  entry: string;
  dir: string;
  runner: string;
  env: Record<string, string>;
  event: () => unknown;
  runs: number;
}): Promise<ColdProfileEntry[]> {
  const bundle = await buildBundle(`${options.name}-profiled`, options.entry, options.dir, {
    minify: false,
    sourcemap: false,
  });
  if (bundle.error) throw new Error(bundle.error);
  const map = sections(readFileSync(bundle.file, 'utf8'));
  const profileDir = join(options.dir, `profiles-${options.name}`);
  const totals = new Map<string, number>();
  for (let run = 0; run < options.runs; run++) {
    await coldRun(options.runner, bundle.file, options.event(), options.env, [
      '--cpu-prof',
      `--cpu-prof-dir=${profileDir}`,
      '--cpu-prof-interval=100',
    ]);
  }
  for (const file of readdirSync(profileDir)) {
    const profile = JSON.parse(readFileSync(join(profileDir, file), 'utf8')) as CpuProfile;
    const byId = new Map(profile.nodes.map((node) => [node.id, node]));
    profile.samples.forEach((id, i) => {
      const frame = byId.get(id)?.callFrame;
      if (!frame) return;
      let owner: string;
      if (frame.url.endsWith(`${options.name}-profiled.mjs`)) owner = ownerAt(map, frame.lineNumber);
      else if (frame.url === '') owner = frame.functionName.startsWith('(') ? frame.functionName : '(native)';
      else if (frame.url.startsWith('node:')) owner = 'node: built-ins (module loading, http, crypto)';
      else owner = frame.url;
      totals.set(owner, (totals.get(owner) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
    });
  }
  rmSync(profileDir, { recursive: true, force: true });
  return [...totals.entries()]
    .filter(([name]) => name !== '(idle)')
    .map(([name, ms]) => ({ name, ms: ms / options.runs }))
    .sort((a, b) => b.ms - a.ms);
}
