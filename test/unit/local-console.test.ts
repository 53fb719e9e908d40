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

  it("escapes format characters: a bidirectional override in a recipient's correlation id cannot reorder the line", () => {
    // Anyone can send `?correlation_id=%E2%80%AE…` to /links/{name}; U+202E would reverse the rest of the line
    // on the terminal, U+2066 and U+200B hide or isolate text: none of them is \s or a control character.
    const lines: string[] = [];
    consoleLogger('redirects', { print: (line) => lines.push(line) }).info('public link launched', {
      correlationId: '\u202eevil\u2066x\u200b\u2069\u{e0041}',
    });
    expect(lines[0]).not.toMatch(/\p{Cf}/u);
    expect(lines[0]).toContain('correlationId="\\u202eevil\\u2066x\\u200b\\u2069\\udb40\\udc41"');
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
