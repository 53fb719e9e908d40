import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type App, type CfnElement, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { FUNCTION_ENV } from '#shared/contract/env.ts';
import { publicConfigSchema } from '#shared/core/config.ts';
import { createApp } from '../../infra/app.ts';
import type { AppFunction } from '../../infra/constructs/app-function.ts';
import { FUNCTIONS, type FunctionName, ROUTES } from '../../infra/definitions.ts';
import { CRONOFY_CONTEXT, FEATURE_FLAGS, NO_BUNDLING } from './cdk-context.ts';

/** The real context of cdk.json (feature flags, `cronofy`), so the tests check what `cdk deploy` would build. */
const cronofyContext = CRONOFY_CONTEXT;

const FUNCTION_IDS: Record<FunctionName, string> = {
  ingest: 'Ingest',
  worker: 'Worker',
  redirects: 'Redirects',
  tokens: 'Tokens',
  schedulingRequests: 'SchedulingRequests',
  reconcile: 'Reconcile',
  events: 'Events',
  tenants: 'Tenants',
};

type Resource = {
  Type: string;
  // biome-ignore lint/suspicious/noExplicitAny: synthesized CloudFormation is untyped JSON; the assertions check its shape
  Properties: Record<string, any>;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
};

let app: App;
let stack: Stack;
let template: Template;

// Built once, the only infra test that bundles (the slow part): the others look at the template alone.
beforeAll(() => {
  // The CDK writes "Bundling asset <path>..." per function straight to stderr; npm test stays quiet.
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) =>
    String(chunk).startsWith('Bundling asset ') || write(chunk, ...rest)) as typeof process.stderr.write;
  try {
    app = createApp({ context: { ...FEATURE_FLAGS, cronofy: cronofyContext } });
  } finally {
    process.stderr.write = write;
  }
  stack = app.node.findChild('CronofyNotifications-dev') as Stack;
  template = Template.fromStack(stack);
});

function logicalId(construct: IConstruct): string {
  return stack.getLogicalId(construct.node.defaultChild as CfnElement);
}

function appFunction(name: FunctionName): AppFunction {
  return stack.node.findChild(FUNCTION_IDS[name]) as AppFunction;
}

function functionResource(name: FunctionName): Resource {
  return template.toJSON().Resources[logicalId(appFunction(name).function)];
}

function resourcesOfType(type: string): Array<[string, Resource]> {
  return Object.entries(template.toJSON().Resources as Record<string, Resource>).filter(
    ([, r]) => r.Type === type,
  );
}

function onlyResource(type: string): [string, Resource] {
  const found = resourcesOfType(type);
  expect(found).toHaveLength(1);
  return found[0] as [string, Resource];
}

/** Every action the function's role is allowed, from its inline policies. */
function allowedActions(name: FunctionName): string[] {
  const roleId = logicalId(appFunction(name).role);
  return resourcesOfType('AWS::IAM::Policy')
    .filter(([, policy]) => policy.Properties.Roles.some((role: { Ref?: string }) => role.Ref === roleId))
    .flatMap(([, policy]) => policy.Properties.PolicyDocument.Statement)
    .filter((statement: { Effect: string }) => statement.Effect === 'Allow')
    .flatMap((statement: { Action: string | string[] }) => [statement.Action].flat());
}

describe('functions', () => {
  it('run every function on Node.js 22 or newer, on arm64, traced', () => {
    const functions = resourcesOfType('AWS::Lambda::Function');
    expect(functions).toHaveLength(Object.keys(FUNCTIONS).length);
    for (const [, fn] of functions) {
      const major = Number(/^nodejs(\d+)\.x$/.exec(fn.Properties.Runtime)?.[1]);
      expect(major).toBeGreaterThanOrEqual(22);
      expect(fn.Properties.Architectures).toEqual(['arm64']);
      expect(fn.Properties.TracingConfig).toEqual({ Mode: 'Active' });
      expect(fn.Properties.Handler).toBe('index.handler');
    }
  });

  it('gives every function its own log group with the configured retention', () => {
    const logGroups = resourcesOfType('AWS::Logs::LogGroup');
    expect(logGroups.length).toBeGreaterThanOrEqual(4);
    for (const name of Object.keys(FUNCTION_IDS) as FunctionName[]) {
      const groupId = logicalId(appFunction(name).logGroup);
      expect(functionResource(name).Properties.LoggingConfig).toEqual({
        LogGroup: { Ref: groupId },
        LogFormat: 'JSON',
        // Lambda drops none of our lines or metric lines (no level: INFO); LOG_LEVEL filters ours.
        ApplicationLogLevel: 'TRACE',
        SystemLogLevel: FUNCTIONS[name].systemLogLevel,
      });
      expect(template.toJSON().Resources[groupId].Properties.RetentionInDays).toBe(
        cronofyContext.logRetentionDays,
      );
    }
    // One ingest invocation per notification: its START and REPORT lines are not kept.
    expect(functionResource('ingest').Properties.LoggingConfig.SystemLogLevel).toBe('WARN');
    expect(functionResource('worker').Properties.LoggingConfig.SystemLogLevel).toBe('INFO');
  });

  it('uses the memory and timeout of definitions.ts and the shared environment defaults', () => {
    const worker = functionResource('worker').Properties;
    expect(worker.Timeout).toBe(30);
    expect(worker.MemorySize).toBe(512);
    for (const name of Object.keys(FUNCTION_IDS) as FunctionName[]) {
      expect(functionResource(name).Properties.Environment.Variables).toMatchObject({
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: name,
        LOG_LEVEL: 'INFO',
      });
    }
  });

  it('ships minified ESM bundles with the require banner and source maps', () => {
    const outdir = app.synth().directory;
    const bundles = readdirSync(outdir)
      .filter((entry) => entry.startsWith('asset.'))
      .map((entry) => join(outdir, entry))
      .filter((dir) => existsSync(join(dir, 'index.mjs')));
    expect(bundles).toHaveLength(Object.keys(FUNCTIONS).length);
    for (const dir of bundles) {
      const code = readFileSync(join(dir, 'index.mjs'), 'utf8');
      expect(
        code.startsWith(
          "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
        ),
      ).toBe(true);
      expect(code).toMatch(/\/\/# sourceMappingURL=index\.mjs\.map\s*$/);
      expect(existsSync(join(dir, 'index.mjs.map'))).toBe(true);
    }
  });

  it('wires each function to the resources its code reads from the environment', () => {
    const [queueId] = resourcesOfType('AWS::SQS::Queue').find(([, q]) => q.Properties.RedrivePolicy) ?? [];
    // The records table is the one with a stream (the tenants table has none).
    const [tableId] =
      resourcesOfType('AWS::DynamoDB::GlobalTable').find(([, t]) => t.Properties.StreamSpecification) ?? [];
    const [secretId] = onlyResource('AWS::SecretsManager::Secret');
    const env = (name: FunctionName) => functionResource(name).Properties.Environment.Variables;
    const cacheSeconds = String(300);

    expect(env('ingest')).toMatchObject({
      QUEUE_URL: { Ref: queueId },
      SECRET_ARN: { Ref: secretId },
      SECRETS_CACHE_SECONDS: cacheSeconds,
    });
    expect(env('ingest').TABLE_NAME).toBeUndefined();
    expect(env('worker')).toMatchObject({
      TABLE_NAME: { Ref: tableId },
      METRICS_NAMESPACE: 'CronofyNotifications/dev',
    });
    expect(env('worker').SECRET_ARN).toBeUndefined();
    expect(env('redirects')).toMatchObject({
      TABLE_NAME: { Ref: tableId },
      SECRET_ARN: { Ref: secretId },
      SECRETS_CACHE_SECONDS: cacheSeconds,
    });
    expect(env('tokens')).toMatchObject({
      SECRET_ARN: { Ref: secretId },
      SECRETS_CACHE_SECONDS: cacheSeconds,
    });
    expect(env('tokens').TABLE_NAME).toBeUndefined();
  });

  it('sets every environment variable each function reads (shared/contract/env.ts FUNCTION_ENV)', () => {
    for (const name of Object.keys(FUNCTION_ENV) as FunctionName[]) {
      const variables = functionResource(name).Properties.Environment.Variables;
      expect(FUNCTION_ENV[name].filter((variable) => variables[variable] === undefined)).toEqual([]);
    }
  });

  it('hands the redirect function the public configuration it parses', () => {
    const json = functionResource('redirects').Properties.Environment.Variables.CRONOFY_PUBLIC_CONFIG;
    const parsed = publicConfigSchema.parse(JSON.parse(json));
    expect(parsed).toEqual({
      dataCenter: cronofyContext.dataCenter,
      redirects: cronofyContext.redirects,
      publicLinks: cronofyContext.publicLinks,
    });
  });
});

describe('queue', () => {
  it('encrypts every queue with SQS-managed keys and refuses non-TLS access to each', () => {
    const queues = resourcesOfType('AWS::SQS::Queue');
    // The notification queue, its dead-letter queue, the events dead-letter queue (test/infra/events.test.ts).
    expect(queues).toHaveLength(3);
    for (const [queueId, queue] of queues) {
      expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: queueId }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 'sqs:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    }
  });

  it('moves a message to the DLQ after at least 5 receives and keeps DLQ messages 14 days', () => {
    const [, queue] = resourcesOfType('AWS::SQS::Queue').find(([, q]) => q.Properties.RedrivePolicy) ?? [];
    const dlqId = queue?.Properties.RedrivePolicy.deadLetterTargetArn['Fn::GetAtt'][0];
    const dlq = template.toJSON().Resources[dlqId] as Resource | undefined;
    expect(queue?.Properties.RedrivePolicy.maxReceiveCount).toBeGreaterThanOrEqual(5);
    expect(dlq?.Type).toBe('AWS::SQS::Queue');
    expect(dlq?.Properties.MessageRetentionPeriod).toBe(14 * 24 * 3600);
  });

  it('expires notification records through the table TTL, and tells the worker the retention', () => {
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      TimeToLiveSpecification: { AttributeName: 'expires_at', Enabled: true },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ NOTIFICATION_RETENTION_DAYS: '90' }) },
    });
  });

  it('hides a message for at least 6 × the worker timeout', () => {
    const [, queue] = resourcesOfType('AWS::SQS::Queue').find(([, q]) => q.Properties.RedrivePolicy) ?? [];
    const workerTimeout = functionResource('worker').Properties.Timeout;
    expect(queue?.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * workerTimeout);
  });

  it('feeds the worker in batches, with partial batch failures and bounded concurrency', () => {
    // The worker's and the events function's (test/infra/events.test.ts).
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 2);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalId(appFunction('worker').function) },
      BatchSize: 10,
      MaximumBatchingWindowInSeconds: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: cronofyContext.workerMaxConcurrency },
    });
  });
});

describe('table', () => {
  it('is on demand, with point-in-time recovery, a NEW_AND_OLD_IMAGES stream and deletion protection', () => {
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      // pk, and the keys of the open-requests index (test/infra/scheduling.test.ts).
      AttributeDefinitions: Match.arrayWith([{ AttributeName: 'pk', AttributeType: 'S' }]),
      BillingMode: 'PAY_PER_REQUEST',
      StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
      Replicas: [
        Match.objectLike({
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          DeletionProtectionEnabled: true,
        }),
      ],
    });
  });

  it('is retained when the stack is deleted or the table replaced', () => {
    template.hasResource('AWS::DynamoDB::GlobalTable', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });
});

describe('secret', () => {
  it('starts with a placeholder that accepts no notification, and is retained', () => {
    const [, secret] = onlyResource('AWS::SecretsManager::Secret');
    expect(secret.DeletionPolicy).toBe('Retain');
    const placeholder = JSON.parse(secret.Properties.GenerateSecretString.SecretStringTemplate);
    expect(placeholder.client_secrets).toEqual([]);
    expect(secret.Properties.GenerateSecretString.GenerateStringKey).toBe('embed_secret');
  });
});

describe('least privilege', () => {
  it("lets ingest send to the queue, read the secret and read (decrypt) a tenant's client secrets, and nothing else", () => {
    const actions = allowedActions('ingest');
    expect(actions.filter((action) => !/^(logs|xray):/.test(action)).sort()).toEqual([
      'dynamodb:GetItem',
      'kms:Decrypt',
      'secretsmanager:GetSecretValue',
      'sqs:SendMessage',
    ]);
    // The GetItem is on the tenants table, never on the records table.
    const [recordsId] =
      resourcesOfType('AWS::DynamoDB::GlobalTable').find(([, t]) => t.Properties.StreamSpecification) ?? [];
    const roleId = logicalId(appFunction('ingest').role);
    const policies = resourcesOfType('AWS::IAM::Policy').filter(([, policy]) =>
      policy.Properties.Roles.some((role: { Ref?: string }) => role.Ref === roleId),
    );
    expect(JSON.stringify(policies)).not.toContain(`"${recordsId}"`);
  });

  it('lets the worker consume the queue, write items and read notification records, and nothing else', () => {
    const actions = allowedActions('worker').filter((action) => !/^(logs|xray):/.test(action));
    expect(actions.filter((action) => action.startsWith('dynamodb:')).sort()).toEqual([
      'dynamodb:BatchGetItem',
      'dynamodb:PartiQLInsert',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
    ]);
    expect(actions.filter((action) => action.startsWith('secretsmanager:'))).toEqual([]);
    expect(actions).not.toContain('sqs:SendMessage');
    expect(actions).toContain('sqs:DeleteMessage');
  });

  it('lets the redirect function put items and read the secret only', () => {
    const actions = allowedActions('redirects').filter((action) => !/^(logs|xray):/.test(action));
    expect(actions.sort()).toEqual(['dynamodb:PutItem', 'secretsmanager:GetSecretValue']);
  });

  it('lets the tokens function read the secret only', () => {
    const actions = allowedActions('tokens').filter((action) => !/^(logs|xray):/.test(action));
    expect(actions).toEqual(['secretsmanager:GetSecretValue']);
  });

  it('uses no managed policies (log access is limited to the function’s own log group)', () => {
    for (const [, role] of resourcesOfType('AWS::IAM::Role')) {
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    }
  });
});

describe('HTTP API', () => {
  it('has exactly the routes of definitions.ts, each wired to its function', () => {
    const resources = template.toJSON().Resources as Record<string, Resource>;
    const routes = resourcesOfType('AWS::ApiGatewayV2::Route');
    expect(routes.map(([, r]) => r.Properties.RouteKey).sort()).toEqual(
      ROUTES.map((route) => `${route.method} ${route.path}`).sort(),
    );
    for (const route of ROUTES) {
      const [, resource] =
        routes.find(([, r]) => r.Properties.RouteKey === `${route.method} ${route.path}`) ?? [];
      const integrationId = resource?.Properties.Target['Fn::Join'][1][1].Ref;
      expect(resources[integrationId]?.Properties.IntegrationUri).toEqual({
        'Fn::GetAtt': [logicalId(appFunction(route.function).function), 'Arn'],
      });
    }
  });

  it.each([
    ['POST /tokens/claim', 'AWS_IAM'],
    ['POST /tokens/embed', 'AWS_IAM'],
    ['POST /cronofy/notifications', 'NONE'],
    ['POST /cronofy/notifications/{tenant_id}', 'NONE'],
    ['GET /redirects/{step}', 'NONE'],
    ['POST /scheduling-requests', 'AWS_IAM'],
    ['POST /scheduling-requests/{id}/cancel', 'AWS_IAM'],
  ])('authorizes %s with %s', (routeKey, authorizationType) => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
      RouteKey: routeKey,
      AuthorizationType: authorizationType,
    });
  });
});

describe('outputs', () => {
  it.each([
    'ApiUrl',
    'NotificationUrl',
    'RedirectBaseUrl',
    'LinksBaseUrl',
    'TableName',
    'TableStreamArn',
    'QueueUrl',
    'DeadLetterQueueUrl',
    'SecretArn',
    'AlarmTopicArn',
    'DashboardName',
  ])('outputs %s', (name) => {
    template.hasOutput(name, {});
  });
});

describe('app', () => {
  it('stops with a message naming a wrong cronofy key', () => {
    const context = { ...NO_BUNDLING, cronofy: { ...cronofyContext, dataCenter: 'mars' } };
    expect(() => createApp({ context })).toThrow(/cronofy\.dataCenter/);
  });

  it('refuses a log retention CloudWatch Logs does not offer, naming the key', () => {
    const context = { ...NO_BUNDLING, cronofy: { ...cronofyContext, logRetentionDays: 31 } };
    expect(() => createApp({ context })).toThrow(/cronofy\.logRetentionDays/);
  });

  it('refuses a secret ARN that is not a complete Secrets Manager ARN, naming the key', () => {
    const context = { ...NO_BUNDLING, cronofy: { ...cronofyContext, secretArn: 'my-secret' } };
    expect(() => createApp({ context })).toThrow(/cronofy\.secretArn/);
  });

  it('uses an existing secret when given its ARN, and creates none', () => {
    const secretArn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:cronofy-AbCdEf';
    const other = createApp({
      context: { ...FEATURE_FLAGS, ...NO_BUNDLING, cronofy: { ...cronofyContext, secretArn } },
    });
    const otherTemplate = Template.fromStack(other.node.findChild('CronofyNotifications-dev') as Stack);
    otherTemplate.resourceCountIs('AWS::SecretsManager::Secret', 0);
    otherTemplate.hasOutput('SecretArn', { Value: secretArn });
  });

  it('builds an independent, separately named copy per stage', () => {
    const prod = createApp({
      context: { ...FEATURE_FLAGS, ...NO_BUNDLING, stage: 'prod', cronofy: cronofyContext },
    });
    const prodStack = prod.node.findChild('CronofyNotifications-prod') as Stack;
    expect(prodStack.stackName).toBe('CronofyNotifications-prod');
    // No fixed physical names (CloudFormation generates them from the stack name), so stages cannot collide.
    const resources = Template.fromStack(prodStack).toJSON().Resources as Record<string, Resource>;
    const nameKeys: Record<string, string> = {
      'AWS::Lambda::Function': 'FunctionName',
      'AWS::SQS::Queue': 'QueueName',
      'AWS::DynamoDB::GlobalTable': 'TableName',
      'AWS::Logs::LogGroup': 'LogGroupName',
      'AWS::SecretsManager::Secret': 'Name',
      'AWS::IAM::Role': 'RoleName',
    };
    const named = Object.values(resources).filter(
      (r) => nameKeys[r.Type] && r.Properties?.[nameKeys[r.Type] ?? ''],
    );
    expect(named).toEqual([]);
  });

  it('refuses a stage that cannot name a stack', () => {
    expect(() =>
      createApp({
        context: { ...FEATURE_FLAGS, ...NO_BUNDLING, stage: 'no spaces', cronofy: cronofyContext },
      }),
    ).toThrow(/stage/);
  });

  it('defaults to the dev stage', () => {
    expect(Stack.isStack(stack)).toBe(true);
    expect(stack.stackName).toBe('CronofyNotifications-dev');
  });
});
