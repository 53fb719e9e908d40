import { describe, expect, it } from 'vitest';
import type { DownstreamRecord } from '#shared/contract/records.ts';
import type { CronofyEvent } from '#shared/events/consumer-types.ts';
import { busEventOf, domainEventOf } from '#shared/events/domain-events.ts';
import { exampleConsumer } from '#shared/events/example-consumer.ts';

/** The example consumer the README points to handles the events the code produces. */

const request = (status: 'pending' | 'time_chosen' | 'declined', revision: number): DownstreamRecord => ({
  entity: 'scheduling_request',
  scheduling_request_id: 'sr_1',
  status,
  updated_at: `2026-01-01T00:00:0${revision}.000Z`,
  revision,
});

const delivered = (before: DownstreamRecord | undefined, after: DownstreamRecord, id: string) => {
  const event = domainEventOf({
    eventName: before ? 'MODIFY' : 'INSERT',
    oldRecord: before,
    newRecord: after,
  });
  if (!event) throw new Error('expected an event');
  return JSON.parse(JSON.stringify(busEventOf(event, { id, account: '1', region: 'eu-west-1' })));
};

describe('example consumer', () => {
  it('applies each event once, drops duplicates and states older than one it has', () => {
    const applied: CronofyEvent[] = [];
    const consumer = exampleConsumer((event) => applied.push(event));
    const created = delivered(undefined, request('pending', 1), 'a');
    const booked = delivered(request('pending', 1), request('time_chosen', 2), 'b');
    const declined = delivered(request('time_chosen', 2), request('declined', 3), 'c');
    expect(consumer.handle(created)).toBe('applied');
    expect(consumer.handle(declined)).toBe('applied');
    // EventBridge's retry of the same event (a new envelope id, the same event_id), and a late older state.
    expect(consumer.handle({ ...declined, id: 'retry' })).toBe('duplicate');
    expect(consumer.handle(booked)).toBe('older');
    expect(consumer.handle({ source: 'aws.s3', 'detail-type': 'Object Created', detail: {} })).toBe(
      'not ours',
    );
    expect(applied.map((event) => event['detail-type'])).toEqual([
      'scheduling_request.created',
      'scheduling_request.declined',
    ]);
  });

  it("keeps each tenant's records apart: two tenants' events may share a Cronofy event_id", () => {
    // An event's id is the one the integrator gave it, per calendar: two tenants can both have `booking-1`.
    const event = (tenant: string, revision: number): DownstreamRecord => ({
      entity: 'event',
      event_id: 'booking-1',
      tenant_id: tenant,
      conferencing: { status: 'assigned', provider_name: 'Zoom', join_url: `https://zoom.example/${tenant}` },
      updated_at: `2026-01-01T00:00:0${revision}.000Z`,
      revision,
    });
    const applied: CronofyEvent[] = [];
    const consumer = exampleConsumer((e) => applied.push(e));
    expect(consumer.handle(delivered(undefined, event('acme', 5), 'a'))).toBe('applied');
    expect(consumer.handle(delivered(undefined, event('globex', 1), 'b'))).toBe('applied');
    expect(applied.map((e) => e.detail.tenant_id)).toEqual(['acme', 'globex']);
  });
});
