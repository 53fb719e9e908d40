import { randomBytes } from 'node:crypto';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signBody } from '#shared/notifications/signature.ts';
import type { LocalStack } from '../../infra/local/stack.ts';
import { schedulingRequestBody } from '../support/cronofy-payloads.ts';
import { startTestStack } from '../support/local-mode.ts';
import { type SseMessage, subscribeEvents } from '../support/sse.ts';

/**
 * Downstream events in local mode (shared/events/README.md), over real HTTP: signed notifications in, Server-Sent
 * Events out of `GET /_local/events`, as `curl -N` reads them.
 */

const SECRET = 'CRN_e2e_events_secret';
let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack('events', SECRET);
});

afterAll(async () => {
  await stack?.stop();
});

const subscribe = (query = '', headers: Record<string, string> = {}) =>
  subscribeEvents(`${stack.url}/_local/events${query}`, headers);

const postSigned = (body: string) =>
  fetch(`${stack.url}/cronofy/notifications`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'cronofy-hmac-sha256': signBody(body, SECRET) },
    body,
  });

async function drained(timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { Attributes } = await stack.clients.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: stack.queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    if (
      Number(Attributes?.ApproximateNumberOfMessages) +
        Number(Attributes?.ApproximateNumberOfMessagesNotVisible) ===
      0
    )
      return;
    if (Date.now() > deadline) throw new Error('queue did not drain');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const newRequestId = () => `srq_${randomBytes(12).toString('hex')}`;
const parsed = (message: SseMessage) => JSON.parse(message.data);
const ofRecord = (id: string) => (message: SseMessage) =>
  parsed(message).detail.record.scheduling_request_id === id;

describe('GET /_local/events', () => {
  it('a booking is one scheduling_request.time_chosen event; its duplicate none; the next step the next event', async () => {
    const sse = await subscribe();
    expect(sse.response.status).toBe(200);
    expect(sse.response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const id = newRequestId();
    const booking = schedulingRequestBody('scheduling_request_time_chosen', {
      schedulingRequestId: id,
      triggeredAt: '2026-11-20T10:00:00Z',
    });
    expect((await postSigned(booking)).status).toBe(202);
    await sse.until((messages) => messages.some(ofRecord(id)));
    expect((await postSigned(booking)).status).toBe(202);
    await drained();
    // A later step of the same record: its event comes after anything the duplicate could have caused.
    const started = schedulingRequestBody('event_start', {
      schedulingRequestId: id,
      triggeredAt: '2026-12-01T14:00:00Z',
    });
    expect((await postSigned(started)).status).toBe(202);
    await sse.until((messages) => messages.filter(ofRecord(id)).length >= 2);
    await sse.close();

    const mine = sse.messages.filter(ofRecord(id));
    expect(mine.map((message) => message.event)).toEqual([
      'scheduling_request.time_chosen',
      'scheduling_request.event_started',
    ]);
    const event = parsed(mine[0] as SseMessage);
    expect(event).toMatchObject({
      version: '0',
      source: 'cronofy.notifications',
      'detail-type': 'scheduling_request.time_chosen',
      account: '000000000000',
      resources: [],
      detail: {
        record: {
          entity: 'scheduling_request',
          scheduling_request_id: id,
          status: 'time_chosen',
          triggered_at: '2026-11-20T10:00:00.000Z',
          event: { start: { time: '2026-12-01T14:00:00Z' } },
        },
      },
    });
    expect(event.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(event.detail.event_id).toMatch(/^[0-9a-f]{32}$/);
    expect(event.detail.changed).toContain('status');
    expect(Object.keys(event.detail.record)).not.toContain('lifecycle_applied');
    expect(Object.keys(event.detail.record)).not.toContain('updated_at');
    // Each event is also kept by the local bus, in the same order.
    expect(
      stack.events
        .events()
        .filter((e) => (e.detail.record as { scheduling_request_id?: string }).scheduling_request_id === id)
        .map((e) => e.detail.event_id),
    ).toEqual(mine.map((message) => parsed(message).detail.event_id));
  });

  it('a record too large for one EventBridge entry: its event comes at once, the record reduced to its identity', async () => {
    const sse = await subscribe();
    const id = newRequestId();
    // Two valid bodies of ~180 KB: a booking with a large captured_data, then a large attendee list.
    const capturedData = Object.fromEntries(
      Array.from({ length: 175 }, (_, i) => [`captured_data.answer_${i}`, 'a'.repeat(1000)]),
    );
    const booking = schedulingRequestBody('scheduling_request_time_chosen', {
      schedulingRequestId: id,
      triggeredAt: '2026-11-20T10:00:00Z',
      capturedData,
    });
    const participants = JSON.parse(
      schedulingRequestBody('event_participant_status_changed', {
        schedulingRequestId: id,
        triggeredAt: '2026-11-20T11:00:00Z',
      }),
    );
    participants.scheduling_request.event.attendees = Array.from({ length: 1300 }, (_, i) => ({
      email: `attendee.${String(i).padStart(4, '0')}@example.com`,
      display_name: `Attendee number ${i} of the panel`.padEnd(60, '.'),
      status: 'accepted',
    }));
    const crowded = JSON.stringify(participants);
    expect(Math.min(booking.length, crowded.length)).toBeGreaterThan(175_000);
    expect((await postSigned(booking)).status).toBe(202);
    await sse.until((messages) => messages.some(ofRecord(id)));
    expect((await postSigned(crowded)).status).toBe(202);
    await sse.until((messages) => messages.filter(ofRecord(id)).length >= 2);
    await sse.close();

    const [booked, changed] = sse.messages.filter(ofRecord(id)).map(parsed);
    expect(booked.detail).not.toHaveProperty('record_truncated');
    expect(Object.keys(booked.detail.record.metadata)).toHaveLength(178);
    expect(changed).toMatchObject({
      'detail-type': 'scheduling_request.participants_changed',
      detail: {
        record_truncated: true,
        record: { entity: 'scheduling_request', scheduling_request_id: id, status: 'time_chosen' },
      },
    });
    expect(changed.detail.record).not.toHaveProperty('metadata');
    expect(changed.detail.record).not.toHaveProperty('event');
    expect(changed.detail.changed).toContain('event');
    expect(Buffer.byteLength(JSON.stringify(changed.detail))).toBeLessThan(2_000);
  });

  it('a record holding an empty map (a booking with no metadata) is an event, and so is every change after it', async () => {
    // DynamoDB Local's stream writes an empty map as `{}` with no type, where DynamoDB Streams writes `{"M":{}}`.
    const sse = await subscribe();
    const bare = newRequestId();
    const booking = JSON.stringify({
      notification: { type: 'scheduling_request_time_chosen', triggered_at: '2026-11-20T10:00:00Z' },
      scheduling_request: {
        scheduling_request_id: bare,
        event: { summary: 'Interview', metadata: { scheduler: {} } },
      },
    });
    expect((await postSigned(booking)).status).toBe(202);
    const next = newRequestId();
    expect(
      (
        await postSigned(
          schedulingRequestBody('scheduling_request_declined', {
            schedulingRequestId: next,
            triggeredAt: '2026-11-20T11:00:00Z',
          }),
        )
      ).status,
    ).toBe(202);
    await sse.until((messages) => messages.some(ofRecord(bare)) && messages.some(ofRecord(next)));
    await sse.close();
    const event = parsed(sse.messages.find(ofRecord(bare)) as SseMessage);
    expect(event['detail-type']).toBe('scheduling_request.time_chosen');
    expect(event.detail.record.metadata).toEqual({});
  });

  it('?detail_type=a,b serves only those detail-types; Last-Event-ID replays what came after it', async () => {
    const filtered = await subscribe('?detail_type=scheduling_request.declined,event_trigger.fired');
    const everything = await subscribe();
    const id = newRequestId();
    await postSigned(
      schedulingRequestBody('scheduling_request_time_chosen', {
        schedulingRequestId: id,
        triggeredAt: '2026-11-20T10:00:00Z',
      }),
    );
    await drained();
    await postSigned(
      schedulingRequestBody('scheduling_request_declined', {
        schedulingRequestId: id,
        triggeredAt: '2026-11-20T11:00:00Z',
      }),
    );
    await everything.until((messages) => messages.filter(ofRecord(id)).length >= 2);
    await filtered.until((messages) => messages.some(ofRecord(id)));
    await Promise.all([filtered.close(), everything.close()]);
    expect(
      filtered.messages.every((m) =>
        ['scheduling_request.declined', 'event_trigger.fired'].includes(m.event ?? ''),
      ),
    ).toBe(true);
    expect(filtered.messages.filter(ofRecord(id)).map((m) => m.event)).toEqual([
      'scheduling_request.declined',
    ]);

    const first = everything.messages.filter(ofRecord(id))[0] as SseMessage;
    const resumed = await subscribe('', { 'last-event-id': first.id as string });
    await resumed.until((messages) => messages.some(ofRecord(id)));
    await resumed.close();
    expect(resumed.messages.filter(ofRecord(id)).map((m) => m.event)).toEqual([
      'scheduling_request.declined',
    ]);
  });
});
