import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  dynamoDbHolder,
  type LocalPort,
  PortInUseError,
  type ProcessInfo,
  portFree,
  requireFreePorts,
} from '../../infra/local/prerequisites.ts';

/** What `npm start` says when its ports are taken, with this machine's ports and processes faked. */

const JAVA =
  'java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar -inMemory -port 8000 -sharedDb';

function ports(settings: Record<string, number>): LocalPort[] {
  return Object.entries(settings).map(([variable, port]) => ({ variable, port, host: '127.0.0.1' }));
}

async function failure(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PortInUseError);
  return (error as Error).message;
}

describe('requireFreePorts', () => {
  const busyAt = (...busy: number[]) => ({
    free: async (port: number) => !busy.includes(port),
    dynamoDbHolder: async () => undefined,
  });

  it('passes when every port is free', async () => {
    await expect(
      requireFreePorts(ports({ PORT: 3000, DYNAMODB_PORT: 8000 }), busyAt()),
    ).resolves.toBeUndefined();
  });

  it('names every taken port at once, and suggests free ports that collide with no configured or suggested one', async () => {
    // DYNAMODB_PORT=4531's next port is SQS_PORT's; CRONOFY_API_PORT=4533 is taken too.
    const message = await failure(
      requireFreePorts(
        ports({ PORT: 4500, DYNAMODB_PORT: 4531, SQS_PORT: 4532, CRONOFY_API_PORT: 4533 }),
        busyAt(4531, 4533),
      ),
    );

    expect(message).toContain('Port 4531 (DYNAMODB_PORT) is already in use on this machine');
    expect(message).toContain('Port 4533 (CRONOFY_API_PORT) is already in use on this machine');
    expect(message).toContain("find what uses it with: ss -ltnp 'sport = :4531'  or  lsof -i :4531");
    expect(message).not.toContain('Port 4500');
    // The ports given that stay free are repeated: the command starts what was asked for, moved.
    expect(message.split('\n').at(-1)).toBe(
      'To use other ports instead: PORT=4500 DYNAMODB_PORT=4534 SQS_PORT=4532 CRONOFY_API_PORT=4535 npm start',
    );
  });

  it('repeats the other settings given (TABLE_NAME), and leaves out ports at their default', async () => {
    const message = await failure(
      requireFreePorts(ports({ PORT: 4020, DYNAMODB_PORT: 8000, SQS_PORT: 9324 }), busyAt(4020), {
        TABLE_NAME: 'h-ux',
      }),
    );

    expect(message.split('\n').at(-1)).toBe(
      'To use another port instead: PORT=4021 TABLE_NAME=h-ux npm start',
    );
  });

  it('says what holds DYNAMODB_PORT when it is a DynamoDB Local, and suggests one port for one', async () => {
    const message = await failure(
      requireFreePorts(ports({ PORT: 3000, DYNAMODB_PORT: 8000 }), {
        free: async (port) => port !== 8000,
        dynamoDbHolder: async (port) => `Port ${port} (DYNAMODB_PORT) is used by a DynamoDB Local …`,
      }),
    );

    expect(message).toBe(
      'Port 8000 (DYNAMODB_PORT) is used by a DynamoDB Local …\nTo use another port instead: DYNAMODB_PORT=8001 npm start',
    );
  });
});

describe('portFree', () => {
  it('is false while something listens on the port, true once it stops', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };

    expect(await portFree(port, '127.0.0.1')).toBe(false);
    await new Promise((resolve) => server.close(resolve));
    expect(await portFree(port, '127.0.0.1')).toBe(true);
  });
});

describe('dynamoDbHolder', () => {
  const NODE: ProcessInfo = {
    pid: 100,
    ppid: 50,
    args: 'node --no-warnings --import tsx infra/local/start.ts',
  };
  const look = (processes: ProcessInfo[], answers = false) => ({
    processes: () => processes,
    answersDynamoDb: async () => answers,
  });

  it('says a DynamoDB Local whose parent still runs belongs to a running local mode or test, and never to kill it', async () => {
    const message = await dynamoDbHolder(8000, look([NODE, { pid: 200, ppid: 100, args: JAVA }]));

    expect(message).toBe(
      'Port 8000 (DYNAMODB_PORT) is used by the DynamoDB Local of a running local mode or test ' +
        '(pid 200, parent 100: node --no-warnings --import tsx infra/local/start.ts); leave it, or stop that run first.',
    );
    expect(message).not.toMatch(/kill/);
  });

  it.each([
    ['re-parented to PID 1', [{ pid: 200, ppid: 1, args: JAVA }]],
    ['whose parent is gone', [{ pid: 200, ppid: 100, args: JAVA }]],
    [
      'adopted by systemd --user',
      [
        { pid: 30, ppid: 1, args: '/usr/lib/systemd/systemd --user' },
        { pid: 200, ppid: 30, args: JAVA },
      ],
    ],
  ])('calls a DynamoDB Local %s left over, and says how to stop it', async (_, processes) => {
    const message = await dynamoDbHolder(8000, look(processes));

    expect(message).toContain(
      'Port 8000 (DYNAMODB_PORT) is taken by a DynamoDB Local left over from an earlier run (process 200: java ',
    );
    expect(message).toContain('Stop it with: kill 200   (if it does not stop: kill -9 200)');
  });

  it('looks only at the DynamoDB Local of the port (-port, else 8000)', async () => {
    const other = { pid: 300, ppid: 1, args: JAVA.replace('-port 8000', '-port 8100') };
    const plain = { pid: 400, ppid: 1, args: 'java -jar DynamoDBLocal.jar -inMemory' };

    expect(await dynamoDbHolder(8000, look([other, plain]))).toContain('(process 400: ');
    expect(await dynamoDbHolder(8100, look([other, plain]))).toContain('(process 300: ');
  });

  it('says how to find the process of a DynamoDB Local it cannot see, without killing every one', async () => {
    const message = await dynamoDbHolder(8000, look([NODE], true));

    expect(message).toBe(
      "Port 8000 (DYNAMODB_PORT) is used by a DynamoDB Local that npm start did not start; find its process with: ss -ltnp 'sport = :8000'  or  lsof -i :8000",
    );
  });

  it('is undefined when the port holds no DynamoDB Local', async () => {
    expect(await dynamoDbHolder(8000, look([NODE], false))).toBeUndefined();
  });
});
