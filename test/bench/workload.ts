import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { encodeEnvelope, idempotencyKey } from '#shared/notifications/envelope.ts';
import { signBody } from '#shared/notifications/signature.ts';
import { ACCESS_LOG_FIELDS } from '../../infra/definitions.ts';
import { schedulingRequestBody } from '../support/cronofy-payloads.ts';

/**
 * The benchmark workload: realistic 3–5 KB scheduling-request notifications, each for its own scheduling
 * request, signed with the second of two active secrets (see `Shape` for how they reach their size).
 */

export const SECRETS = ['bench-client-secret-previous-0000', 'bench-client-secret-current-11111'] as const;
/** A value signed with a secret we no longer hold comes first: the match is the second header value. */
const RETIRED_SECRET = 'bench-client-secret-retired-222222';

const NOTES =
  'Available most afternoons; prefer video. Previous role: senior platform engineer, eight years. ' +
  'Relocating in spring, needs visa sponsorship details. Portfolio and references on request. ';

let sequence = 0;

export interface Notification {
  /** The idempotency key ingest derives: scheduling-request callbacks carry no Cronofy-Notification-ID. */
  key: string;
  schedulingRequestId: string;
  body: string;
}

/**
 * How a body reaches its size. `panel` (the default) grows what makes real Scheduler payloads large, as in
 * Cronofy's own example: recipients, collaborators, collaborator groups and their members, recipient URLs;
 * the candidate's captured answer stays short. `captured-data` pads the candidate's free-text answer
 * instead: the worst case for write units, since `metadata` (captured data included) is copied into the
 * scheduling_request record.
 */
export type Shape = 'panel' | 'captured-data';

const SHORT_ANSWER = 'Available most afternoons; prefer video. Needs step-free access.';

function panelBody(options: Parameters<typeof schedulingRequestBody>[1], targetBytes: number): string {
  const body = JSON.parse(
    schedulingRequestBody('scheduling_request_time_chosen', {
      ...options,
      capturedData: { 'captured_data.notes': SHORT_ANSWER },
    }),
  );
  const request = body.scheduling_request;
  request.buffer = { before: { minutes: 10 }, after: { minutes: 15 } };
  request.dashboard_url = 'https://app.cronofy.com/scheduler/requests/d6f3f8165239d662963fc09b';
  request.recipient_operations = {
    view_url: 'https://app.cronofy.com/rts/suDzyKHW',
    decline_url: 'https://app.cronofy.com/rts/suDzyKHW?decline=true',
    reschedule_url: 'https://app.cronofy.com/rts/suDzyKHW?reschedule=true',
  };
  request.collaborators = [];
  request.collaborator_groups = [];
  // Grow the interview panel (collaborators and the groups they are drawn from) to the target size.
  for (let i = 0; Buffer.byteLength(JSON.stringify(body)) < targetBytes; i++) {
    const sub = `acc_${(0x5f00aa00 + i).toString(16)}bfe62001ed91c7e9`;
    if (i % 4 === 0) {
      request.collaborator_groups.push({ name: `Interview panel ${i / 4 + 1}`, members: [], required: 1 });
    }
    request.collaborators.push({ sub });
    request.collaborator_groups.at(-1).members.push({ sub });
  }
  return JSON.stringify(body);
}

/** A new notification (fresh scheduling request) of about `targetBytes` bytes. */
export function notification(run: string, targetBytes = 4096, shape: Shape = 'panel'): Notification {
  const n = ++sequence;
  const schedulingRequestId = `srq_bench_${run}_${n}`;
  const options = {
    schedulingRequestId,
    triggeredAt: new Date(Date.UTC(2026, 10, 23, 10, 0, n % 60)).toISOString(),
    correlationId: `cand-${run}-${n}`,
  };
  if (shape === 'panel') {
    const body = panelBody(options, targetBytes);
    return { key: idempotencyKey(Buffer.from(body)), schedulingRequestId, body };
  }
  const base = schedulingRequestBody('scheduling_request_time_chosen', options);
  const room = Math.max(0, targetBytes - Buffer.byteLength(base) - 40);
  const answer = NOTES.repeat(Math.ceil(room / NOTES.length)).slice(0, room);
  const body = schedulingRequestBody('scheduling_request_time_chosen', {
    ...options,
    capturedData: { 'captured_data.notes': answer },
  });
  return { key: idempotencyKey(Buffer.from(body)), schedulingRequestId, body };
}

export function signatureHeader(body: string): string {
  return `${signBody(body, RETIRED_SECRET)},${signBody(body, SECRETS[1])}`;
}

/** The API Gateway HTTP API (payload 2.0) event for a signed POST of `body`. */
export function apiEvent(body: string): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: 'POST /cronofy/notifications',
    rawPath: '/cronofy/notifications',
    rawQueryString: '',
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      host: 'bench.execute-api.us-east-1.amazonaws.com',
      'user-agent': 'Cronofy (https://www.cronofy.com/support/)',
      'cronofy-hmac-sha256': signatureHeader(body),
      'x-amzn-trace-id': 'Root=1-00000000-000000000000000000000000',
      'x-forwarded-for': '203.0.113.10',
      'x-forwarded-port': '443',
      'x-forwarded-proto': 'https',
    },
    requestContext: {
      accountId: '000000000000',
      apiId: 'bench',
      domainName: 'bench.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'bench',
      http: {
        method: 'POST',
        path: '/cronofy/notifications',
        protocol: 'HTTP/1.1',
        sourceIp: '203.0.113.10',
        userAgent: 'Cronofy',
      },
      requestId: 'bench',
      routeKey: 'POST /cronofy/notifications',
      stage: '$default',
      time: '23/Nov/2026:10:00:00 +0000',
      timeEpoch: 1_795_428_000_000,
    },
    body,
    isBase64Encoded: false,
  };
}

/** The queue message ingest writes for this notification. */
export function envelopeOf(n: Notification, receivedAt = new Date()): string {
  return encodeEnvelope({ body: Buffer.from(n.body), receivedAt });
}

/** An SQS event of these messages, as the event source mapping delivers them. */
export function sqsEvent(messages: readonly { messageId: string; body: string }[]) {
  return {
    Records: messages.map(({ messageId, body }) => ({
      messageId,
      receiptHandle: `rh-${messageId}`,
      body,
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: String(Date.now()),
        SenderId: 'AROA000000000000000',
        ApproximateFirstReceiveTimestamp: String(Date.now()),
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:cronofy-notifications',
      awsRegion: 'us-east-1',
    })),
  };
}

let batchMessage = 0;

/** `count` SQS events of 10 fresh 4 KB notifications each, as the warm worker profiles feed them. */
export function workerBatches(run: string, count: number) {
  return Array.from({ length: count }, () =>
    sqsEvent(
      Array.from({ length: 10 }, () => ({
        messageId: `${run}-${++batchMessage}`,
        body: envelopeOf(notification(run, 4096)),
      })),
    ),
  );
}

/**
 * The HTTP API's access log line for one signed notification POST: the stack's format
 * (ACCESS_LOG_FIELDS) with the values API Gateway fills in, sized like real ones.
 */
export function accessLogLine(): string {
  const headers = apiEvent('{}').headers;
  const values: Record<string, string> = {
    '$context.requestId': 'Lx0AbCdEoAMEbXw=',
    '$context.requestTime': '23/Nov/2026:10:00:00 +0000',
    '$context.identity.sourceIp': '203.0.113.10',
    '$context.identity.userAgent': headers['user-agent'] ?? '',
    '$context.identity.userArn': '-',
    '$context.routeKey': 'POST /cronofy/notifications',
    '$context.status': '202',
    '$context.responseLength': '21',
    '$context.responseLatency': '12',
    '$context.integrationStatus': '200',
    '$context.integrationErrorMessage': '-',
  };
  return JSON.stringify(
    Object.fromEntries(Object.entries(ACCESS_LOG_FIELDS).map(([name, variable]) => [name, values[variable]])),
  );
}
