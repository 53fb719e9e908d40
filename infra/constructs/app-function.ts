import { Duration, Validations } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import {
  ApplicationLogLevel,
  Architecture,
  LoggingFormat,
  Runtime,
  SystemLogLevel,
  Tracing,
} from 'aws-cdk-lib/aws-lambda';
import { type BundlingOptions, LogLevel, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ENV } from '#shared/contract/env.ts';

/** Every function runs on this runtime: cdk-nag (AwsSolutions-L1) asks for the newest Node.js the CDK knows. */
export const APP_RUNTIME = Runtime.NODEJS_24_X;

/**
 * The bundle is ESM, but the AWS SDK (which we bundle, pinned) still `require`s Node built-ins in places;
 * without a real `require` in scope the function crashes on import.
 */
const ESM_REQUIRE_BANNER =
  "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

const RETENTION_VALUES = new Set<number>(
  Object.values(RetentionDays).filter((value): value is number => typeof value === 'number'),
);

/** CloudWatch Logs accepts only a fixed set of retention periods; say so at synth time, not at deploy time. */
export function toRetentionDays(days: number, key = 'cronofy.logRetentionDays'): RetentionDays {
  if (!RETENTION_VALUES.has(days) || days === RetentionDays.INFINITE) {
    const allowed = [...RETENTION_VALUES]
      .filter((value) => value !== RetentionDays.INFINITE)
      .sort((a, b) => a - b);
    throw new Error(
      `${key}: ${days} is not a CloudWatch Logs retention period; use one of ${allowed.join(', ')}`,
    );
  }
  return days as RetentionDays;
}

export interface AppFunctionProps {
  /** Path of the handler module, relative to the project root (see infra/definitions.ts). */
  readonly entry: string;
  /** Logical name of the function: `POWERTOOLS_SERVICE_NAME`, and the service in metric dimensions. */
  readonly serviceName: string;
  /** How long the function's logs are kept, in days (a CloudWatch Logs retention period). */
  readonly logRetentionDays: number;
  /**
   * @default 256
   */
  readonly memorySize?: number;
  /**
   * Level of Lambda's own lines (START, REPORT, platform warnings). `WARN` drops the per-invocation lines.
   * @default 'INFO'
   */
  readonly systemLogLevel?: 'DEBUG' | 'INFO' | 'WARN';
  /**
   * @default Duration.seconds(10)
   */
  readonly timeout?: Duration;
  /**
   * Extra environment variables. Merged over the defaults (`NODE_OPTIONS`, `POWERTOOLS_SERVICE_NAME`,
   * `LOG_LEVEL`): a caller's key wins, every other default stays.
   * @default - the defaults only
   */
  readonly environment?: Readonly<Record<string, string>>;
  /**
   * Extra esbuild settings. Merged over the defaults key by key; `define` and `esbuildArgs` are merged
   * too, and a caller's `banner` is appended after the ESM `require` banner instead of replacing it.
   * @default - the defaults only (ESM, minified, source maps, AWS SDK bundled)
   */
  readonly bundling?: BundlingOptions;
  /**
   * @default - no description
   */
  readonly description?: string;
  /**
   * Instances that may run at once, reserved from the account's concurrency (the functions that call Cronofy:
   * their share of its rate limit assumes at most this many).
   * @default - unreserved
   */
  readonly reservedConcurrentExecutions?: number;
}

/**
 * A Node.js Lambda function with what every function of this project shares: the newest Node.js runtime
 * on arm64, a minified ESM bundle with source maps, X-Ray tracing, and its own log group with a bounded
 * retention. Permissions start empty: the role may only write to its own log group, and everything else
 * is granted with the `bind*` helpers (infra/constructs/bindings.ts), which also set the matching
 * environment variable.
 */
export class AppFunction extends Construct {
  readonly function: NodejsFunction;
  readonly logGroup: LogGroup;
  readonly role: Role;

  constructor(scope: Construct, id: string, props: AppFunctionProps) {
    super(scope, id);

    this.logGroup = new LogGroup(this, 'LogGroup', { retention: toRetentionDays(props.logRetentionDays) });

    // Our own role instead of the AWSLambdaBasicExecutionRole managed policy: that one lets the function
    // create log groups and write to any of them, where this function only needs its own.
    this.role = new Role(this, 'Role', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') });
    this.logGroup.grantWrite(this.role);

    const environment = {
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_SERVICE_NAME: props.serviceName,
      [ENV.logLevel]: 'INFO',
      ...props.environment,
    };
    this.function = new NodejsFunction(this, 'Function', {
      entry: props.entry,
      handler: 'handler',
      runtime: APP_RUNTIME,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout ?? Duration.seconds(10),
      description: props.description,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      role: this.role,
      logGroup: this.logGroup,
      tracing: Tracing.ACTIVE,
      // JSON: our lines are JSON already (Lambda does not wrap them again), and only the JSON format lets
      // Lambda filter its own lines by level. Our lines are filtered by LOG_LEVEL in our logger; Lambda's
      // application filter is left fully open (TRACE) so it never drops one of them, nor the metric lines
      // (EMF), which carry no level and would count as INFO.
      loggingFormat: LoggingFormat.JSON,
      systemLogLevelV2: SystemLogLevel[props.systemLogLevel ?? 'INFO'],
      applicationLogLevelV2: ApplicationLogLevel.TRACE,
      environment,
      bundling: mergeBundling(props.bundling),
    });

    // Tracing adds xray:PutTraceSegments/PutTelemetryRecords on "*": X-Ray has no resource-level permissions.
    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'X-Ray PutTraceSegments/PutTelemetryRecords support only Resource "*" (no resource-level permissions).',
    });
  }

  /** Set an environment variable; the `bind*` helpers use it so that a grant always comes with its wiring. */
  addEnvironment(name: string, value: string): void {
    this.function.addEnvironment(name, value);
  }

  get functionName(): string {
    return this.function.functionName;
  }
}

function mergeBundling(caller: BundlingOptions = {}): BundlingOptions {
  const defaults: BundlingOptions = {
    format: OutputFormat.ESM,
    target: 'node24',
    minify: true,
    sourceMap: true,
    // Stack traces only need file and line mappings; leaving the sources out keeps the bundle small.
    sourcesContent: false,
    mainFields: ['module', 'main'],
    // We ship the SDK version we tested against rather than the one the runtime happens to carry.
    bundleAwsSDK: true,
    externalModules: [],
    // esbuild's warnings and errors only: its per-file size lines would repeat for every function on every
    // synth (and every test that bundles); test/bench reports the sizes.
    logLevel: LogLevel.WARNING,
  };
  return {
    ...defaults,
    ...caller,
    banner: [ESM_REQUIRE_BANNER, caller.banner].filter(Boolean).join('\n'),
    define: { ...defaults.define, ...caller.define },
    esbuildArgs: { ...defaults.esbuildArgs, ...caller.esbuildArgs },
  };
}
