import { deflateRawSync, inflateRawSync } from 'node:zlib';

/**
 * How a notification record stores its body: the raw bytes, DEFLATE-compressed (raw DEFLATE, RFC 1951) with
 * a preset dictionary of Cronofy's field names and fixed strings, as one binary attribute whose name says
 * how to decode it (`body_deflate_v1`). A 3–5 KB Cronofy body takes 1 write unit instead of 4–5
 * (test/bench/README.md, "Body compression"). Readers never see this form: `parseStreamImage` gives back
 * `body` (the raw body, verbatim) and `body_encoding` as the records contract has them.
 *
 * A dictionary is part of the stored format: a record written with one must be read with exactly that one,
 * forever. Never edit `DICTIONARY_V1`; a better dictionary is a new attribute (`body_deflate_v2`) beside it.
 */

/** The stored attribute of the current format. */
export const BODY_ATTRIBUTE = 'body_deflate_v1';

/**
 * Cronofy's notification shapes (https://docs.cronofy.com/developers/scheduler/ and the push notification
 * pages): field names, types and fixed URL prefixes, the likeliest last (DEFLATE reaches the end of its
 * dictionary with the shortest distances). Frozen: see above.
 */
const DICTIONARY_V1 = Buffer.from(
  [
    '{"notification":{"type":"event_subscription","triggered_at":"2026-","interactions":[{"type":"conferencing_assigned","subtype":""},{"type":"conferencing_failing"}],"transitions":[{"before":"event_start","offset":{"minutes":5,"hours":1}},{"after":"event_end"}]},"event":{"event_id":"","summary":"","description":"","start":"","end":"","conferencing":{"provider_name":"zoom","join_url":"https://","pending":true}}}',
    '{"notification":{"type":"event_participant_status_changed"},"notification_context":{"changed_participants":[{"email":""}]}}',
    '{"notification":{"type":"scheduling_request_declined"}},{"notification":{"type":"scheduling_request_no_times_available"}},{"notification":{"type":"scheduling_request_more_times_requested"}},{"notification":{"type":"scheduling_request_rescheduled"}},{"notification":{"type":"event_started"}},{"notification":{"type":"event_ended"}},{"notification":{"type":"scheduling_request_cancelled"}}',
    '{"notification":{"type":"scheduling_request_time_chosen","triggered_at":"2026-11-23T10:00:00Z"},"user":{"tzid":"Europe/London"},"scheduling_request":{"scheduling_request_id":"srq_","slot_selection":"complete","primary_select_url":"https://app.cronofy.com/rts/","dashboard_url":"https://app.cronofy.com/scheduler/requests/","summary":"Interview - ","duration":{"minutes":30},"buffer":{"before":{"minutes":10},"after":{"minutes":15}},"recipient_operations":{"view_url":"https://app.cronofy.com/rts/","decline_url":"https://app.cronofy.com/rts/?decline=true","reschedule_url":"https://app.cronofy.com/rts/?reschedule=true"},"recipients":[{"email":"","display_name":"","slot_selector":true,"select_url":"https://app.cronofy.com/rts/"}],"collaborators":[{"sub":"acc_"},{"sub":"acc_"}],"collaborator_groups":[{"name":"","members":[{"sub":"acc_"},{"sub":"acc_"}],"required":1}],"event":{"host":{"email":"","display_name":"","sub":"acc_","status":"accepted"},"attendees":[{"email":"","display_name":"","status":"needs_action"},{"email":"","display_name":"","sub":"acc_","status":"tentative"},{"email":"","display_name":"","status":"declined"}],"start":{"time":"2026-12-01T14:00:00Z","tzid":"Europe/London"},"end":{"time":"2026-12-01T14:30:00Z","tzid":"Europe/London"},"summary":"Interview - ","metadata":{"scheduler":{"correlation_id":"","utm_source":"","utm_medium":"email","utm_campaign":"","utm_term":"","utm_content":"","captured_data.phone_number":"","captured_data.notes":""}}}}}',
  ].join('\n'),
);

/**
 * The largest body a record can hold is under DynamoDB's 400 KB item limit; inflating stops well past it, so
 * a hand-made item cannot make a reader allocate without bound.
 */
const MAX_BODY_BYTES = 1024 * 1024;

/** Level 6 (zlib's default): level 9 saves under 1 % more bytes here for more CPU (the bench's figures). */
export function compressBody(raw: Uint8Array): Uint8Array {
  return deflateRawSync(raw, { level: 6, dictionary: DICTIONARY_V1 });
}

export function decompressBody(stored: Uint8Array): Buffer {
  return inflateRawSync(stored, { dictionary: DICTIONARY_V1, maxOutputLength: MAX_BODY_BYTES });
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The raw bytes of a body in the records contract's form (text, or base64 when it was not UTF-8). */
export function rawBody(body: string, encoding: unknown): Buffer {
  return encoding === 'base64' ? Buffer.from(body, 'base64') : Buffer.from(body, 'utf8');
}

/** The records contract's form of raw bytes: the text when they are valid UTF-8, else base64. */
export function contractBody(raw: Uint8Array): { body: string; body_encoding: 'utf8' | 'base64' } {
  try {
    return { body: strictUtf8.decode(raw), body_encoding: 'utf8' };
  } catch {
    return { body: Buffer.from(raw).toString('base64'), body_encoding: 'base64' };
  }
}

/**
 * A stored notification item (plain values, as `unmarshall` gives them) with its body in the contract's
 * form: `body_deflate_v1` decoded into `body` and `body_encoding`. Items written before compression (`body`
 * as text with `body_encoding`) and every other item come back as they are.
 */
export function withContractBody<T extends Record<string, unknown>>(item: T): T {
  const stored = storedBytes(item);
  if (stored === undefined) return item;
  const { [BODY_ATTRIBUTE]: _stored, ...rest } = item;
  return { ...rest, ...contractBody(decompressBody(stored)) } as unknown as T;
}

/** The exact bytes Cronofy sent, from a stored notification item in either form. */
export function storedBodyBytes(item: Record<string, unknown>): Buffer {
  const stored = storedBytes(item);
  if (stored !== undefined) return decompressBody(stored);
  return rawBody(String(item.body ?? ''), item.body_encoding);
}

/**
 * The compressed attribute: bytes from the SDK, or base64 text where the image came as JSON (a stream
 * record in a Lambda event carries binary attributes as base64 strings).
 */
function storedBytes(item: Record<string, unknown>): Uint8Array | undefined {
  const stored = item[BODY_ATTRIBUTE];
  if (stored instanceof Uint8Array) return stored;
  return typeof stored === 'string' ? Buffer.from(stored, 'base64') : undefined;
}
