import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The layering of shared/, read from the import specifiers of every file:
 * - contract/ (what is stored and what a consumer reads) imports nothing of ours;
 * - core/ (ports, errors, config, logger, metrics) imports only contract/;
 * - every other folder imports only core/, contract/ and files in its own folder;
 * - no import cycles anywhere in shared/.
 */

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const sharedRoot = join(root, 'shared');

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return tsFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(?\s*)(['"])([^'"]+)\1/g;

/** The shared/ files a file imports (as paths relative to shared/), and whether it imports anything else of ours. */
function importsOf(file: string): { shared: string[]; outside: string[] } {
  const text = readFileSync(file, 'utf8');
  const shared: string[] = [];
  const outside: string[] = [];
  for (const match of text.matchAll(SPECIFIER)) {
    const spec = match[2] as string;
    let target: string | undefined;
    if (spec.startsWith('#shared/')) target = join(sharedRoot, spec.slice('#shared/'.length));
    else if (spec.startsWith('.')) target = resolve(dirname(file), spec);
    if (target === undefined) continue; // a package or a node built-in
    const fromShared = relative(sharedRoot, target);
    if (fromShared.startsWith('..')) outside.push(relative(root, target));
    else shared.push(fromShared.split(sep).join('/'));
  }
  return { shared: [...new Set(shared)], outside };
}

const files = tsFiles(sharedRoot)
  .map((file) => relative(sharedRoot, file).split(sep).join('/'))
  .sort();
const graph = new Map(files.map((file) => [file, importsOf(join(sharedRoot, file))]));

const folderOf = (file: string) => (file.includes('/') ? (file.split('/')[0] as string) : '.');

/** Which folders (or single files) each folder may import besides its own. */
const ALLOWED: Record<string, readonly string[]> = {
  contract: [],
  core: ['contract'],
  notifications: ['core', 'contract'],
  recipients: ['core', 'contract'],
  // The scheduling use cases call Cronofy: through its port and typed errors only, never the HTTP adapter.
  scheduling: ['core', 'contract', 'cronofy/api.ts', 'cronofy/api-errors.ts'],
  // Tenants: the token endpoint through its port and typed errors; onboarding mints an Embed token.
  tenants: ['core', 'contract', 'cronofy/oauth.ts', 'recipients/tokens.ts'],
  edge: ['core', 'contract'],
  aws: ['core', 'contract'],
  cronofy: ['core', 'contract'],
  // Downstream events: derived from the records of the contract.
  events: ['core', 'contract'],
};

function violations(): string[] {
  const found: string[] = [];
  for (const [file, { shared }] of graph) {
    const folder = folderOf(file);
    const allowed = ALLOWED[folder];
    for (const target of shared) {
      const targetFolder = folderOf(target);
      if (targetFolder === folder) continue;
      if (allowed?.includes(targetFolder) || allowed?.includes(target)) continue;
      found.push(`${file} -> ${target}`);
    }
  }
  return found.sort();
}

describe('import rules of shared/', () => {
  it('finds the files and their imports', () => {
    expect(files.length).toBeGreaterThan(20);
    expect(graph.get('notifications/apply.ts')?.shared).toContain('notifications/plan.ts');
  });

  it('every file lives in one of the known folders', () => {
    expect(files.filter((file) => !(folderOf(file) in ALLOWED))).toEqual([]);
  });

  it('shared/ imports nothing of ours outside shared/', () => {
    expect(
      [...graph].flatMap(([file, { outside }]) => outside.map((target) => `${file} -> ${target}`)),
    ).toEqual([]);
  });

  it('each folder imports only what it may (contract/ nothing, core/ only contract/, the rest core/ and contract/, scheduling/ also the Cronofy port)', () => {
    expect(violations()).toEqual([]);
  });

  it('has no import cycles', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const stack: string[] = [];
    const visit = (file: string) => {
      state.set(file, 'visiting');
      stack.push(file);
      for (const target of graph.get(file)?.shared ?? []) {
        if (state.get(target) === 'visiting')
          cycles.push([...stack.slice(stack.indexOf(target)), target].join(' -> '));
        else if (!state.has(target)) visit(target);
      }
      stack.pop();
      state.set(file, 'done');
    };
    for (const file of files) if (!state.has(file)) visit(file);
    expect(cycles).toEqual([]);
  });
});

/**
 * infra/: the operator tools (ops/) find a deployment, local mode or AWS, on their own; what they share with
 * local mode (its ports, variables, region and configuration) lives in modules at infra/ level that import
 * neither local/ nor ops/.
 */
describe('import rules of infra/', () => {
  const infraRoot = join(root, 'infra');
  /** The infra/ files a file imports, relative to infra/. */
  const infraImports = (file: string): string[] =>
    [...readFileSync(file, 'utf8').matchAll(SPECIFIER)]
      .map((match) => match[2] as string)
      .filter((spec) => spec.startsWith('.'))
      .map((spec) =>
        relative(infraRoot, resolve(dirname(file), spec))
          .split(sep)
          .join('/'),
      )
      .filter((target) => !target.startsWith('..'));
  const importsUnder = (files: string[], folder: string) =>
    files.flatMap((file) =>
      infraImports(file)
        .filter((target) => target.startsWith(`${folder}/`))
        .map((target) => `${relative(infraRoot, file).split(sep).join('/')} -> ${target}`),
    );

  it('finds the imports of infra/ops', () => {
    expect(infraImports(join(infraRoot, 'ops/cli.ts'))).toContain('ops/operations.ts');
  });

  it('infra/ops imports nothing from infra/local', () => {
    expect(importsUnder(tsFiles(join(infraRoot, 'ops')), 'local')).toEqual([]);
  });

  it('the modules local mode and the operator tools share import neither of them', () => {
    const shared = ['local-mode.ts', 'local-tenants.ts', 'config.ts', 'definitions.ts'].map((file) =>
      join(infraRoot, file),
    );
    expect([...importsUnder(shared, 'local'), ...importsUnder(shared, 'ops')]).toEqual([]);
  });
});
