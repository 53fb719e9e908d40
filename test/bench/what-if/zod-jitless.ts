import { config } from 'zod/mini';

/**
 * What-if: zod without its eval-compiled object parsers. Imported before the handler so the setting is in
 * place when the schemas are built (zod reads it then). Each schema's first parse would otherwise generate
 * and compile a parser with `new Function`: a cost paid once per schema per cold start, for a speed-up that a
 * worker parsing one payload per notification hardly uses.
 */
config({ jitless: true });
