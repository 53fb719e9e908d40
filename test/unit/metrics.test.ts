import { describe, expect, it } from 'vitest';
import { emfLines } from '#shared/core/metrics.ts';

describe('embedded metric format', () => {
  it('emits one document per type with totals and per-type dimensions', () => {
    const lines = emfLines(
      [
        { type: 'scheduling_request_time_chosen', status: 'applied', duplicate: false, triggerDelays: [] },
        { type: 'scheduling_request_time_chosen', status: 'applied', duplicate: true, triggerDelays: [] },
        { type: 'event_subscription', status: 'applied', duplicate: false, triggerDelays: [12.5, -3] },
        { type: null, status: 'unparseable', duplicate: false, triggerDelays: [] },
      ],
      new Date(1_700_000_000_000),
    ).map((line) => JSON.parse(line));
    expect(lines).toHaveLength(3);
    const chosen = lines.find((l) => l.type === 'scheduling_request_time_chosen');
    expect(chosen).toMatchObject({ NotificationsApplied: 1, NotificationsDuplicate: 1 });
    expect(chosen._aws).toMatchObject({
      Timestamp: 1_700_000_000_000,
      CloudWatchMetrics: [{ Namespace: 'CronofyNotifications', Dimensions: [[], ['type']] }],
    });
    const trigger = lines.find((l) => l.type === 'event_subscription');
    expect(trigger.EventTriggerDelaySeconds).toEqual([12.5, -3]);
    expect(trigger._aws.CloudWatchMetrics[0].Metrics).toContainEqual({
      Name: 'EventTriggerDelaySeconds',
      Unit: 'Seconds',
    });
    expect(lines.find((l) => l.type === 'none')).toMatchObject({ NotificationsUnparseable: 1 });
  });

  it('emits nothing for an empty batch', () => {
    expect(emfLines([], new Date())).toEqual([]);
  });
});
