import * as z from 'zod/mini';
import { wellFormed } from '../contract/keys.ts';

/**
 * A text field of a request body from the integrator's own services (`tenant_id`, `correlation_id`, names):
 * a non-empty string of at most `max` characters, without control characters (C0, DEL and C1, which the
 * recipient routes drop too: they end up in URLs, JWTs, records and logs) and well-formed Unicode (a lone
 * surrogate would be kept as it is in one place and as U+FFFD in another: two different values). Each
 * message names the field.
 */
export const textField = (name: string, max: number) =>
  z.string({ error: `${name} must be a string` }).check(
    z.minLength(1, { error: `${name} must not be empty` }),
    z.maxLength(max, { error: `${name} must be at most ${max} characters` }),
    // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
    z.refine((value) => !/[\u0000-\u001f\u007f-\u009f]/.test(value), {
      error: `${name} must not contain control characters`,
    }),
    z.refine((value) => wellFormed(value) === value, { error: `${name} must be well-formed Unicode` }),
  );
