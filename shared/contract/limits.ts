/**
 * Size limits that the infrastructure (infra/: the CDK stack and local mode) and the code running in it must
 * agree on, in one place. Imports nothing, so the functions, the stack and the local emulators can all read it.
 * The table's key names are in keys.ts.
 */

/**
 * Largest queue message, in bytes: 256 KiB, the SQS limit every queue (and every emulator) supports. The
 * stack and local mode create the queues with it, and the ingest envelope stays within it.
 */
export const SQS_MESSAGE_MAX_BYTES = 256 * 1024;

/**
 * Largest notification body accepted (`POST /cronofy/notifications`), in bytes. A body travels base64-encoded
 * when JSON escaping would make it larger (4/3 of its size), and the whole message, with its envelope, must
 * stay within SQS_MESSAGE_MAX_BYTES.
 */
export const NOTIFICATION_BODY_MAX_BYTES = 190 * 1024;

/** Largest body of `POST /tokens/*`: a few fields; anything bigger is not a token request. */
export const TOKEN_REQUEST_BODY_MAX_BYTES = 8 * 1024;

/** Largest body of `POST /scheduling-requests`. */
export const SCHEDULING_REQUEST_BODY_MAX_BYTES = 16 * 1024;
