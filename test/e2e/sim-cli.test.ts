import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../infra/local/services.ts';
import type { LocalStack } from '../../infra/local/stack.ts';
import { REJECTED_SIGNATURE_LIMIT, run } from '../sim/cli.ts';
import { localModeEnv, startTestStack } from '../support/local-mode.ts';

/**
 * `npm run sim` as a newcomer meets it: it says where it sends before sending, shows progress at least every
 * 2 s even while every delivery is being retried, stops early when the receiver rejects its signature, and
 * says local mode is not running instead of retrying a refused connection for minutes.
 */

const SECRET = 'CRN_e2e_sim_cli_secret';
let stack: LocalStack;

beforeAll(async () => {
  stack = await startTestStack('sim', SECRET);
});
afterAll(async () => stack?.stop());

/** Everything the run writes, in order, with the time of each write. */
function capture() {
  const events: { at: number; stream: 'stdout' | 'stderr'; text: string }[] = [];
  return {
    events,
    text: (stream?: 'stdout' | 'stderr') =>
      events
        .filter((e) => !stream || e.stream === stream)
        .map((e) => e.text)
        .join(''),
    io: (env: NodeJS.ProcessEnv) => ({
      stdout: (text: string) => events.push({ at: Date.now(), stream: 'stdout', text: `${text}\n` }),
      stderr: {
        isTTY: false,
        write: (text: string) => events.push({ at: Date.now(), stream: 'stderr', text }),
      },
      env,
    }),
  };
}

const localEnv = () => ({ ...localModeEnv(stack), CRONOFY_CLIENT_SECRETS: SECRET });

describe('npm run sim', () => {
  it('stops early, saying why, when the receiver rejects our signature', async () => {
    const out = capture();
    const started = Date.now();
    const code = await run(
      ['--secret', 'CRN_not_the_receivers_secret', '--count', '200', '--concurrency', '2'],
      out.io(localEnv()),
    );
    expect(code).toBe(1);
    // Cronofy's own schedule would retry each of 200 notifications 10 times over minutes.
    expect(Date.now() - started).toBeLessThan(10_000);
    const stdout = out.text('stdout');
    expect(stdout.split('\n')[0]).toBe(`Cronofy simulator → ${stack.url}/cronofy/notifications`);
    expect(stdout).toContain(
      `Stopped early: the receiver rejects our signature (${REJECTED_SIGNATURE_LIMIT} answers in a row were 401)`,
    );
    expect(stdout).toMatch(/answers\s+401×\d/);
    expect(stdout).toMatch(/FAILED\n?$/);
  });

  it('accepts with the right secret (the early stop is not a false alarm)', async () => {
    const out = capture();
    expect(await run(['--count', '5', '--rate', '0'], out.io(localEnv()))).toBe(0);
    expect(out.text('stdout')).not.toContain('Stopped early');
  });

  it('--verify against local mode also checks its downstream events: one per visible change, none for duplicates', async () => {
    const out = capture();
    const code = await run(
      ['--count', '40', '--duplicates', '0.5', '--rate', '0', '--verify', '--json'],
      out.io(localEnv()),
    );
    const report = JSON.parse(out.text('stdout'));
    expect(report.delivery.duplicatesSent).toBeGreaterThan(0);
    expect(report.events).toMatchObject({
      missing: 0,
      unexpected: 0,
      duplicates: 0,
      outOfOrder: 0,
      mismatched: 0,
    });
    expect(report.events.expected).toBeGreaterThan(10);
    expect(report.events.served).toBe(report.events.expected);
    expect(code).toBe(0);
  });

  it('says local mode is not running at the port it tried, instead of retrying for minutes', async () => {
    const out = capture();
    const port = await freePort();
    const started = Date.now();
    expect(await run(['--count', '5'], out.io({ PORT: String(port) }))).toBe(1);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(out.text('stdout')).toContain(
      `Cronofy simulator → http://127.0.0.1:${port}/cronofy/notifications`,
    );
    expect(out.text('stderr')).toContain(
      `local mode is not running at http://127.0.0.1:${port} (the gateway); start it with npm start`,
    );
  });

  it('--verify names a table local mode does not have before sending anything, and exits', async () => {
    const out = capture();
    expect(
      await run(['--count', '5', '--verify'], out.io({ ...localEnv(), TABLE_NAME: 'no-such-table' })),
    ).toBe(1);
    expect(out.text('stderr')).toContain(
      `table no-such-table was not found in DynamoDB Local at ${stack.endpoints.dynamodb}: give this command the same TABLE_NAME as npm start`,
    );
    expect(out.text()).not.toMatch(/sent|Cannot do operations/);
  });

  describe('against a receiver that fails every delivery', () => {
    let server: Server;
    const requests: number[] = [];
    beforeAll(async () => {
      server = createServer((req, res) => {
        requests.push(Date.now());
        req.resume();
        req.on('end', () => res.writeHead(503).end());
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('prints its target first, then a progress line at least every 2 s while it retries', async () => {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cronofy/notifications`;
      const out = capture();
      const code = await run(
        [
          '--url',
          url,
          '--secret',
          SECRET,
          '--scenario',
          'conferencing',
          '--count',
          '2',
          '--backoff',
          '1000',
          '--max-failures',
          '4',
          // No duplicate deliveries (5 % by default): a third delivery in retry would break the count below.
          '--duplicates',
          '0',
        ],
        out.io({}),
      );
      expect(code).toBe(1); // given up
      const first = out.events[0];
      expect(first?.text).toContain(`Cronofy simulator → ${url}`);
      expect(first?.at).toBeLessThanOrEqual(requests[0] ?? 0);

      const progress = out.events.filter((e) => e.stream === 'stderr' && /\bsent \d+ accepted/.test(e.text));
      // 1 + 2 + 4 s of backoff: several lines, none more than 2 s (plus timer slack) after the previous one.
      expect(progress.length).toBeGreaterThanOrEqual(4);
      expect(progress[0]?.at).toBeLessThanOrEqual(requests[0] ?? 0);
      for (let i = 1; i < progress.length; i++) {
        expect((progress[i]?.at ?? 0) - (progress[i - 1]?.at ?? 0)).toBeLessThanOrEqual(2400);
      }
      // Some line is drawn while a delivery waits for its retry (not only during attempts or after the end).
      expect(progress.map((e) => e.text)).toContainEqual(
        expect.stringMatching(/retrying [12] given up [01]\b/),
      );
      expect(progress.at(-1)?.text).toMatch(/2\/2 100% sent 8 accepted 0 retrying 0 given up 2/);
    }, 30_000);
  });
});
