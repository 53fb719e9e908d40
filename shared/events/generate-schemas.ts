import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DETAIL_TYPES, eventJsonSchema } from './schemas.ts';

/**
 * The JSON Schema of every detail-type, one file each under ./schemas/ (`npm run schemas` writes them; a test
 * fails when they are not current). The stack publishes the same schemas in its EventBridge schema registry.
 */

export const SCHEMAS_DIR = fileURLToPath(new URL('./schemas/', import.meta.url));

/** File name → content of every schema file. */
export function schemaFiles(): Map<string, string> {
  return new Map(
    DETAIL_TYPES.map((detailType) => [
      `${detailType}.json`,
      `${JSON.stringify(eventJsonSchema(detailType), null, 2)}\n`,
    ]),
  );
}

export function writeSchemaFiles(dir = SCHEMAS_DIR): string[] {
  mkdirSync(dir, { recursive: true });
  const files = schemaFiles();
  for (const name of readdirSync(dir)) if (!files.has(name)) rmSync(join(dir, name));
  for (const [name, content] of files) writeFileSync(join(dir, name), content);
  return [...files.keys()];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const written = writeSchemaFiles();
  console.log(`wrote ${written.length} schemas to ${SCHEMAS_DIR}`);
}
