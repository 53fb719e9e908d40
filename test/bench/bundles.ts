import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type BuildOptions, build, type Metafile } from 'esbuild';
import { FUNCTIONS, type FunctionName } from '../../infra/definitions.ts';

/**
 * Lambda bundles built as the CDK stack builds them. The options mirror `mergeBundling` in
 * infra/constructs/app-function.ts (ESM, node24, minified, linked source map without sources, module-first
 * resolution, AWS SDK bundled, the createRequire banner). That file holds them as CDK `BundlingOptions`,
 * not esbuild options, so they are repeated here; keep the two in step. Ours and the floors are built alike.
 */

export const LAMBDA_ESBUILD_OPTIONS: BuildOptions = {
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node24',
  minify: true,
  sourcemap: 'linked',
  sourcesContent: false,
  mainFields: ['module', 'main'],
  banner: { js: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);" },
  metafile: true,
  logLevel: 'silent',
};

export const ROOT = new URL('../../', import.meta.url).pathname;

/** The floors, and the Powertools-based peer worker (for context: what the common design ships). */
export const BENCH_ENTRIES = {
  'floor-ingest': 'test/bench/floors/ingest-floor.ts',
  'contract-floor-ingest': 'test/bench/floors/ingest-contract-floor.ts',
  'floor-worker': 'test/bench/floors/dynamo-put-item.ts',
  'powertools-worker': 'test/bench/powertools-worker.ts',
} as const;

export type BundleName = FunctionName | keyof typeof BENCH_ENTRIES;

export interface Contributor {
  name: string;
  bytes: number;
}

export interface Bundle {
  name: string;
  entry: string;
  file: string;
  bytes: number;
  /** The linked source map (loaded at start-up under `--enable-source-maps`, as the stack configures). */
  mapBytes: number;
  /** Bytes in the output per package (or project folder), largest first. */
  contributors: Contributor[];
  error?: string;
}

/** `node_modules/@aws-sdk/client-sqs/dist-es/…` → `@aws-sdk/client-sqs`; project files by top folder. */
export function packageOf(input: string): string {
  const parts = input.split('/');
  const at = parts.lastIndexOf('node_modules');
  if (at >= 0) {
    const scope = parts[at + 1] ?? '';
    return scope.startsWith('@') ? `${scope}/${parts[at + 2]}` : scope;
  }
  return `(project) ${parts.slice(0, Math.min(2, parts.length - 1)).join('/')}`;
}

export function contributors(metafile: Metafile): Contributor[] {
  const totals = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const name = packageOf(input);
      totals.set(name, (totals.get(name) ?? 0) + bytesInOutput);
    }
  }
  return [...totals.entries()].map(([name, bytes]) => ({ name, bytes })).sort((a, b) => b.bytes - a.bytes);
}

export async function buildBundle(
  name: string,
  entry: string,
  outDir: string,
  overrides: BuildOptions = {},
): Promise<Bundle> {
  const file = join(outDir, `${name}.mjs`);
  try {
    const result = await build({
      ...LAMBDA_ESBUILD_OPTIONS,
      ...overrides,
      entryPoints: [join(ROOT, entry)],
      outfile: file,
      absWorkingDir: ROOT,
    });
    return {
      name,
      entry,
      file,
      bytes: statSync(file).size,
      mapBytes: existsSync(`${file}.map`) ? statSync(`${file}.map`).size : 0,
      contributors: result.metafile ? contributors(result.metafile) : [],
    };
  } catch (error) {
    const message = (error as Error).message.split('\n')[0];
    return { name, entry, file, bytes: Number.NaN, mapBytes: Number.NaN, contributors: [], error: message };
  }
}

/** Every function of infra/definitions.ts, the floors and the peer. */
export async function buildAll(outDir: string): Promise<Record<BundleName, Bundle>> {
  const entries: [BundleName, string][] = [
    ...(Object.entries(FUNCTIONS) as [FunctionName, { entry: string }][]).map(
      ([name, f]) => [name, f.entry] as [BundleName, string],
    ),
    ...(Object.entries(BENCH_ENTRIES) as [BundleName, string][]),
  ];
  const built = await Promise.all(entries.map(([name, entry]) => buildBundle(name, entry, outDir)));
  return Object.fromEntries(built.map((b) => [b.name, b])) as Record<BundleName, Bundle>;
}
