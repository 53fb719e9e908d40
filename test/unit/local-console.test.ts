import { describe, expect, it } from 'vitest';
import { consoleLogger } from '../../infra/local/log.ts';
import { describeChange } from '../../infra/local/stream.ts';

/**
 * Local mode prints identifiers from signed bodies (a scheduling request id) on the developer's terminal: a
 * control character in one (an escape sequence, a NUL) must be printed escaped, never sent to the terminal.
 */

const HOSTILE = 'srq_\u001b[2K\u001b[1Afake\u0000';
/** A C1 control: JSON leaves it as it is. */
const CSI = 'srq_\u009b2Kfake';

describe("local mode's console", () => {
  it('escapes control characters in logged fields', () => {
    const lines: string[] = [];
    consoleLogger('worker', { print: (line) => lines.push(line) }).info('notification processed', {
      schedulingRequestId: HOSTILE,
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toMatch(/\p{Cc}/u);
    expect(lines[0]).toContain(JSON.stringify(HOSTILE));
  });

  it('escapes C1 control characters too', () => {
    const lines: string[] = [];
    consoleLogger('worker', { print: (line) => lines.push(line) }).info('x', { id: CSI });
    expect(lines[0]).not.toMatch(/\p{Cc}/u);
    expect(lines[0]).toContain('id="srq_\\u009b2Kfake"');
  });

  it('escapes control characters in the ids of stream lines', () => {
    const line = describeChange({
      eventName: 'INSERT',
      entity: 'scheduling_request',
      pk: `scheduling_request#${HOSTILE}`,
      newImage: { entity: 'scheduling_request', scheduling_request_id: HOSTILE, status: 'time_chosen' },
    } as unknown as Parameters<typeof describeChange>[0]);
    expect(line).not.toMatch(/\p{Cc}/u);
    expect(line).toBe(`INSERT scheduling_request ${JSON.stringify(HOSTILE)} status=time_chosen`);
  });
});
