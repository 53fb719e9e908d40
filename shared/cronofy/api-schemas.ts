import * as z from 'zod/mini';

/**
 * Cronofy's answers to the Scheduling Requests API
 * (https://docs.cronofy.com/developers/api/scheduling-requests/). Cronofy is the sender and adds fields
 * over time, so every object is loose (unknown fields pass through) and only what callers need is
 * required: the `scheduling_request_id`.
 */

const eventTime = z.union([z.string(), z.looseObject({ time: z.string(), tzid: z.optional(z.string()) })]);

const participant = z.looseObject({
  email: z.optional(z.string()),
  display_name: z.optional(z.string()),
  sub: z.optional(z.string()),
  status: z.optional(z.string()),
});

export const schedulingRequestSchema = z.looseObject({
  scheduling_request_id: z.string().check(z.minLength(1)),
  /** `pending`, `complete` seen; others possible. */
  slot_selection: z.optional(z.string()),
  primary_select_url: z.optional(z.string()),
  dashboard_url: z.optional(z.string()),
  summary: z.optional(z.string()),
  duration: z.optional(z.looseObject({ minutes: z.optional(z.number()) })),
  recipient_operations: z.optional(
    z.looseObject({
      view_url: z.optional(z.string()),
      reschedule_url: z.optional(z.string()),
      decline_url: z.optional(z.string()),
    }),
  ),
  recipients: z.optional(
    z.array(
      z.looseObject({
        email: z.optional(z.string()),
        display_name: z.optional(z.string()),
        slot_selector: z.optional(z.boolean()),
        select_url: z.optional(z.string()),
      }),
    ),
  ),
  event: z.optional(
    z.looseObject({
      summary: z.optional(z.string()),
      start: z.optional(eventTime),
      end: z.optional(eventTime),
      host: z.optional(participant),
      attendees: z.optional(z.array(participant)),
      metadata: z.optional(
        z.looseObject({
          // As in notifications: any JSON value is kept, so one odd answer never refuses a query batch.
          scheduler: z.optional(z.record(z.string(), z.unknown())),
        }),
      ),
    }),
  ),
});
export type SchedulingRequest = z.infer<typeof schedulingRequestSchema>;

/** Create (plain or from a template): `{"scheduling_request": {…}}`. */
export const createAnswerSchema = z.looseObject({ scheduling_request: schedulingRequestSchema });

/** Query: `{"scheduling_requests": [{"scheduling_request": {…}}, …]}`; bare objects in the list accepted too. */
export const queryAnswerSchema = z.looseObject({
  scheduling_requests: z.array(
    z.union([z.looseObject({ scheduling_request: schedulingRequestSchema }), schedulingRequestSchema]),
  ),
});

/** `422`: `{"errors": {"<param>": [{"key": "errors.required", "description": "…"}]}}`. */
export const validationAnswerSchema = z.looseObject({
  errors: z.record(
    z.string(),
    z.array(
      z.union([
        z.string(),
        z.looseObject({ key: z.optional(z.string()), description: z.optional(z.string()) }),
      ]),
    ),
  ),
});
