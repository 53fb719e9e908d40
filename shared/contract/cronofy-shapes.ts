import * as z from 'zod/mini';

/**
 * Shapes Cronofy sends and the records keep as they are, shared by the inbound schemas
 * (shared/notifications/cronofy-schemas.ts) and the downstream contract (./records.ts). Imports nothing of ours.
 */

/**
 * Event times: a string (`2025-01-21T15:30:00Z`, or a date for all-day events) or
 * `{ "time": "…", "tzid": "Europe/London" }`.
 */
export const eventTimeSchema = z.union([
  z.string(),
  z.looseObject({ time: z.string(), tzid: z.optional(z.string()) }),
]);
export type EventTime = z.infer<typeof eventTimeSchema>;

/** A host or attendee. */
export const participantSchema = z.looseObject({
  email: z.optional(z.string()),
  display_name: z.optional(z.string()),
  sub: z.optional(z.string()),
  status: z.optional(z.string()),
});
export type Participant = z.infer<typeof participantSchema>;
