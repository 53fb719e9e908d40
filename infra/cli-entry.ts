import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Runs `main` when the module at `moduleUrl` is the process's entry point (`npm run ops`, `smoke`, `notify`)
 * and exits with its code; a failure prints `describe(error)` and exits 1. When the module is imported (by a
 * test), nothing runs.
 */
export function runWhenEntryPoint(
  moduleUrl: string,
  main: () => Promise<number>,
  describe: (error: unknown) => string,
): void {
  const entry = process.argv[1];
  if (!entry || realpathSync(entry) !== fileURLToPath(moduleUrl)) return;
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(describe(error));
      process.exit(1);
    },
  );
}
