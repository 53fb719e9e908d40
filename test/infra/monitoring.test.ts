import { App, type CfnElement, type Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { StaticSecrets } from '#shared/aws/secrets.ts';
import { parseConfig } from '#shared/core/config.ts';
import { LOG_EVENTS } from '#shared/core/log-events.ts';
import { createLogger } from '#shared/core/logger.ts';
import { emfLines } from '#shared/core/metrics.ts';
import { CredentialRejectedError } from '#shared/cronofy/api-errors.ts';
import { cronofyErrorMetric } from '#shared/cronofy/from-env.ts';
import { acceptNotification, type IngestDeps } from '#shared/notifications/accept.ts';
import { signBody } from '#shared/notifications/signature.ts';
import { SKIPPED_TENANT_METRICS } from '../../functions/reconcile/handler.ts';
import { TENANT_REFUSED_METRICS } from '../../functions/scheduling-requests/handler.ts';
import { createApp } from '../../infra/app.ts';
import type { AppFunction } from '../../infra/constructs/app-function.ts';
import { CronofyNotificationsStack } from '../../infra/stack.ts';
import { CRONOFY_CONTEXT, FEATURE_FLAGS, NO_BUNDLING } from './cdk-context.ts';

/** The real context of cdk.json (feature flags, `cronofy`), so the tests check what `cdk deploy` would build. */
const cronofyContext = CRONOFY_CONTEXT;
const ALARM_EMAILS = ['oncall@example.com', 'team@example.com'];

type Resource = {
  Type: string;
  // biome-ignore lint/suspicious/noExplicitAny: synthesized CloudFormation is untyped JSON; the assertions check its shape
  Properties: Record<string, any>;
};

let stack: Stack;
let template: Template;

// Built once, the way `cdk synth` builds it (the app's cdk-nag checks included) but without bundling: no
// assertion here reads a function's code, and stack.test.ts checks the bundles.
beforeAll(() => {
  const app = createApp({
    context: { ...FEATURE_FLAGS, ...NO_BUNDLING, cronofy: { ...cronofyContext, alarmEmails: ALARM_EMAILS } },
  });
  stack = app.node.findChild('CronofyNotifications-dev') as Stack;
  template = Template.fromStack(stack);
});

function logicalId(construct: IConstruct): string {
  return stack.getLogicalId(construct.node.defaultChild as CfnElement);
}

function appFunction(id: string): AppFunction {
  return stack.node.findChild(id) as AppFunction;
}

function resourcesOfType(type: string): Array<[string, Resource]> {
  return Object.entries(template.toJSON().Resources as Record<string, Resource>).filter(
    ([, r]) => r.Type === type,
  );
}

function queueIds(): { queue: string; deadLetterQueue: string } {
  const queues = resourcesOfType('AWS::SQS::Queue');
  const queue = queues.find(([, q]) => q.Properties.RedrivePolicy)?.[0] ?? '';
  const deadLetterQueue =
    queues.find(([, q]) => q.Properties.RedrivePolicy)?.[1].Properties.RedrivePolicy.deadLetterTargetArn[
      'Fn::GetAtt'
    ][0] ?? '';
  return { queue, deadLetterQueue };
}

function topicId(): string {
  const topics = resourcesOfType('AWS::SNS::Topic');
  expect(topics).toHaveLength(1);
  return topics[0]?.[0] ?? '';
}

function alarmOn(metricName: string, namespace: string): Resource['Properties'] {
  const alarms = resourcesOfType('AWS::CloudWatch::Alarm').filter(
    ([, a]) => a.Properties.MetricName === metricName && a.Properties.Namespace === namespace,
  );
  expect(alarms, `one alarm on ${namespace} ${metricName}`).toHaveLength(1);
  return alarms[0]?.[1].Properties ?? {};
}

describe('alarm topic', () => {
  it('refuses publishers that do not use TLS', () => {
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: topicId() }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('subscribes every address of cronofy.alarmEmails', () => {
    for (const email of ALARM_EMAILS) {
      template.hasResourceProperties('AWS::SNS::Subscription', {
        TopicArn: { Ref: topicId() },
        Protocol: 'email',
        Endpoint: email,
      });
    }
    template.resourceCountIs('AWS::SNS::Subscription', ALARM_EMAILS.length);
  });

  it('refuses an alarm address that is not an email, naming the key', () => {
    const context = { ...NO_BUNDLING, cronofy: { ...cronofyContext, alarmEmails: ['not-an-email'] } };
    expect(() => createApp({ context })).toThrow(/cronofy\.alarmEmails/);
  });
});

describe('alarms', () => {
  it('notifies the topic when an alarm fires and when it clears', () => {
    const alarms = resourcesOfType('AWS::CloudWatch::Alarm');
    // 8 on the notification path (tenant mismatches included), 6 on Cronofy's API and reconciliation
    // (test/infra/scheduling.test.ts), 2 on downstream events (test/infra/events.test.ts), 1 on tenants
    // (test/infra/tenants.test.ts).
    expect(alarms).toHaveLength(17);
    for (const [, alarm] of alarms) {
      expect(alarm.Properties.AlarmActions).toEqual([{ Ref: topicId() }]);
      expect(alarm.Properties.OKActions).toEqual([{ Ref: topicId() }]);
      expect(alarm.Properties.TreatMissingData).toBe('notBreaching');
      expect(alarm.Properties.ComparisonOperator).toBe('GreaterThanOrEqualToThreshold');
    }
  });

  it('fires on any message in the dead-letter queue', () => {
    const dimensions = [
      { Name: 'QueueName', Value: { 'Fn::GetAtt': [queueIds().deadLetterQueue, 'QueueName'] } },
    ];
    const alarms = resourcesOfType('AWS::CloudWatch::Alarm').filter(
      ([, a]) =>
        a.Properties.MetricName === 'ApproximateNumberOfMessagesVisible' &&
        JSON.stringify(a.Properties.Dimensions) === JSON.stringify(dimensions),
    );
    expect(alarms).toHaveLength(1);
    const alarm = alarms[0]?.[1].Properties ?? {};
    expect(alarm.Threshold).toBe(1);
    expect(alarm.Statistic).toBe('Maximum');
  });

  it('fires when the oldest message on the queue is 10 minutes old', () => {
    const alarm = alarmOn('ApproximateAgeOfOldestMessage', 'AWS/SQS');
    expect(alarm.Dimensions).toEqual([
      { Name: 'QueueName', Value: { 'Fn::GetAtt': [queueIds().queue, 'QueueName'] } },
    ]);
    expect(alarm.Threshold).toBe(600);
  });

  it('fires on API Gateway 5xx responses of the API stage', () => {
    const alarm = alarmOn('5xx', 'AWS/ApiGateway');
    expect(alarm.Dimensions).toEqual(
      expect.arrayContaining([
        { Name: 'ApiId', Value: { Ref: expect.stringMatching(/^HttpApi/) } },
        { Name: 'Stage', Value: '$default' },
      ]),
    );
    expect(alarm.Statistic).toBe('Sum');
    expect(alarm.Threshold).toBe(5);
  });

  it('fires on a spike of signature rejections, counted from the ingest log group', () => {
    const alarm = alarmOn('NotificationsRejectedSignature', 'CronofyNotifications/dev');
    expect(alarm.Threshold).toBe(20);
    template.hasResourceProperties('AWS::Logs::MetricFilter', {
      LogGroupName: { Ref: logicalId(appFunction('Ingest').logGroup) },
      FilterPattern: '{ $.message = "notification rejected: signature" }',
      MetricTransformations: [
        {
          MetricNamespace: 'CronofyNotifications/dev',
          MetricName: 'NotificationsRejectedSignature',
          MetricValue: '1',
        },
      ],
    });
  });

  it('fires on the first tenant mismatch, the metric the worker writes (EMF) in the stage namespace', () => {
    const alarm = alarmOn('TenantMismatches', 'CronofyNotifications/dev');
    expect(alarm.Threshold).toBe(1);
    expect(alarm.Statistic).toBe('Sum');
    expect(alarm.AlarmDescription).toContain(LOG_EVENTS.notificationTenantMismatch);
    // The name the worker's metrics use for a rejected notification.
    const [line] = emfLines(
      [{ type: 't', status: 'rejected', duplicate: false, triggerDelays: [] }],
      new Date(),
    );
    expect(JSON.parse(line ?? '{}')).toMatchObject({ TenantMismatches: 1 });
  });

  it.each(['Errors', 'Throttles'])('fires on worker %s', (metricName) => {
    const alarm = alarmOn(metricName, 'AWS/Lambda');
    expect(alarm.Dimensions).toEqual([
      { Name: 'FunctionName', Value: { Ref: logicalId(appFunction('Worker').function) } },
    ]);
    expect(alarm.Threshold).toBe(1);
  });

  it('fires on throttled writes the worker makes (PutItem, UpdateItem, BatchExecuteStatement)', () => {
    const [, alarm] =
      resourcesOfType('AWS::CloudWatch::Alarm').find(([, a]) =>
        JSON.stringify(a).includes('ThrottledRequests'),
      ) ?? [];
    const queries: Array<{ MetricStat?: { Metric: { MetricName: string; Dimensions: unknown[] } } }> =
      alarm?.Properties.Metrics ?? [];
    const operations = queries
      .filter((query) => query.MetricStat?.Metric.MetricName === 'ThrottledRequests')
      .map((query) => JSON.stringify(query.MetricStat?.Metric.Dimensions));
    expect(operations).toHaveLength(3);
    expect(operations.some((dims) => dims.includes('"BatchExecuteStatement"'))).toBe(true);
    expect(operations.some((dims) => dims.includes('"PutItem"'))).toBe(true);
    expect(operations.some((dims) => dims.includes('"UpdateItem"'))).toBe(true);
    expect(alarm?.Properties.Threshold).toBe(1);
  });

  it('takes other thresholds from the stack props', () => {
    const app = new App({ context: { ...FEATURE_FLAGS, ...NO_BUNDLING } });
    const custom = new CronofyNotificationsStack(app, 'Custom', {
      stage: 'custom',
      config: parseConfig(cronofyContext),
      monitoring: { signatureRejections: 3, deadLetterMessages: 2 },
    });
    const customTemplate = Template.fromStack(custom);
    customTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'NotificationsRejectedSignature',
      Threshold: 3,
    });
    customTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Threshold: 2,
    });
  });
});

describe('log metric filters', () => {
  /** Run the real ingest code and keep what it logs. */
  async function ingestLogLines(): Promise<string[]> {
    const lines: string[] = [];
    const deps: IngestDeps = {
      secrets: new StaticSecrets({
        clientSecrets: ['CRN_test'],
        embedPublicKey: 'EMB_test',
        embedSecret: 'ESK_test',
      }),
      queue: { send: async () => {} },
      clock: () => new Date('2025-01-19T16:14:11Z'),
      logger: createLogger('ingest', (line) => lines.push(line), {}),
    };
    const body = new TextEncoder().encode('{"notification":{"type":"scheduling_request_time_chosen"}}');
    const signed = { signature: signBody(body, 'CRN_test'), notificationId: undefined, body };
    await acceptNotification(signed, deps);
    await acceptNotification({ ...signed, signature: 'forged' }, deps).catch(() => {});
    await acceptNotification(
      { signature: undefined, notificationId: undefined, body: new Uint8Array(2 * 1024 * 1024) },
      deps,
    ).catch(() => {});
    return lines;
  }

  it('match the messages of shared/core/log-events.ts, the constants the ingest code logs', () => {
    const patterns = resourcesOfType('AWS::Logs::MetricFilter').map(([, f]) => f.Properties.FilterPattern);
    expect(patterns.sort()).toEqual(
      [LOG_EVENTS.notificationRejectedSignature, LOG_EVENTS.notificationRejectedTooLarge]
        .map((message) => `{ $.message = "${message}" }`)
        .sort(),
    );
  });

  it('match the lines ingest actually writes', async () => {
    const messages = (await ingestLogLines()).map((line) => JSON.parse(line).message);
    const filters = resourcesOfType('AWS::Logs::MetricFilter');
    expect(filters.map(([, f]) => f.Properties.MetricTransformations[0].MetricName).sort()).toEqual([
      'NotificationsRejectedSignature',
      'NotificationsRejectedTooLarge',
    ]);
    for (const [, filter] of filters) {
      const expected = /^\{ \$\.message = "(.+)" \}$/.exec(filter.Properties.FilterPattern)?.[1];
      expect(messages).toContain(expected);
    }
  });
});

describe('dashboard', () => {
  it('graphs the path of a notification and the worker’s custom metrics', () => {
    const dashboards = resourcesOfType('AWS::CloudWatch::Dashboard');
    expect(dashboards).toHaveLength(1);
    const [, dashboard] = dashboards[0] as [string, Resource];
    expect(dashboard.Properties.DashboardName).toBe('CronofyNotifications-dev');
    const body = JSON.stringify(dashboard.Properties.DashboardBody);
    for (const metric of [
      'NumberOfMessagesSent', // accepted: every 202 is one SendMessage
      'NotificationsRejectedSignature',
      '5xx',
      'ApproximateNumberOfMessagesVisible',
      'ApproximateAgeOfOldestMessage',
      'Duration',
      'ConsumedWriteCapacityUnits',
    ]) {
      expect(body).toContain(`\\"${metric}\\"`);
    }
    for (const metric of [
      'NotificationsApplied',
      'NotificationsDuplicate',
      'NotificationsStale',
      'EventTriggerDelaySeconds',
    ]) {
      expect(body).toContain(`[\\"CronofyNotifications/dev\\",\\"${metric}\\"`);
    }
  });
});

describe('dashboard: tenants', () => {
  it('graphs reconciliation skips and refused requests per tenant state, with the metrics the functions write', () => {
    const [[, dashboard]] = resourcesOfType('AWS::CloudWatch::Dashboard') as [[string, Resource]];
    const body = JSON.stringify(dashboard.Properties.DashboardBody);
    expect(body).toContain('Tenants: reconciliation skips per tenant state');
    expect(body).toContain('Tenants: scheduling requests refused per tenant state');
    for (const metric of [
      ...Object.values(SKIPPED_TENANT_METRICS),
      'ReconciliationSkippedRequests',
      ...Object.values(TENANT_REFUSED_METRICS),
      cronofyErrorMetric(new CredentialRejectedError('create_scheduling_request', 401), 'acme'),
    ]) {
      expect(body).toContain(`[\\"CronofyNotifications/dev\\",\\"${metric}\\"`);
    }
  });
});

describe('API stage', () => {
  it('throttles the default stage', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      DefaultRouteSettings: { ThrottlingBurstLimit: 100, ThrottlingRateLimit: 50 },
    });
  });

  it('takes other throttling limits from the stack props', () => {
    const app = new App({ context: { ...FEATURE_FLAGS, ...NO_BUNDLING } });
    const custom = new CronofyNotificationsStack(app, 'Custom', {
      stage: 'custom',
      config: parseConfig(cronofyContext),
      apiThrottle: { rateLimit: 5, burstLimit: 10 },
    });
    Template.fromStack(custom).hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: { ThrottlingBurstLimit: 10, ThrottlingRateLimit: 5 },
    });
  });

  it('writes JSON access logs, without query strings or headers, to a log group with retention', () => {
    const [, stage] = resourcesOfType('AWS::ApiGatewayV2::Stage')[0] as [string, Resource];
    const groupId = stage.Properties.AccessLogSettings.DestinationArn['Fn::GetAtt'][0];
    expect(template.toJSON().Resources[groupId].Properties.RetentionInDays).toBe(
      cronofyContext.logRetentionDays,
    );
    const format = JSON.parse(stage.Properties.AccessLogSettings.Format);
    expect(format).toMatchObject({
      requestId: '$context.requestId',
      routeKey: '$context.routeKey',
      status: '$context.status',
    });
    expect(stage.Properties.AccessLogSettings.Format).not.toMatch(/querystring|header|body/i);
  });
});

describe('least privilege', () => {
  function statementsOf(id: string): Array<{ Action: string | string[]; Resource: unknown; Effect: string }> {
    const roleId = logicalId(appFunction(id).role);
    return resourcesOfType('AWS::IAM::Policy')
      .filter(([, p]) => p.Properties.Roles.some((role: { Ref?: string }) => role.Ref === roleId))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
  }

  it('does not let the tokens function touch DynamoDB or SQS', () => {
    const actions = statementsOf('Tokens').flatMap((s) => [s.Action].flat());
    expect(actions.filter((action) => /^(dynamodb|sqs):/.test(action))).toEqual([]);
  });

  it.each(['Ingest', 'Worker', 'Redirects', 'Tokens'])(
    'allows %s no wildcard action, and "*" only for X-Ray',
    (id) => {
      for (const statement of statementsOf(id)) {
        const actions = [statement.Action].flat();
        expect(actions.filter((action) => action.includes('*'))).toEqual([]);
        if (statement.Resource === '*')
          expect(actions.every((action) => action.startsWith('xray:'))).toBe(true);
      }
    },
  );
});

describe('cdk-nag AwsSolutions', () => {
  it('finds nothing that is neither fixed nor acknowledged', () => {
    const report = new AwsSolutionsChecks().validateScope(stack);
    expect(
      report.violations.map((v) => `${v.ruleName} ${v.violatingResources.map((r) => r.constructPath)}`),
    ).toEqual([]);
  });

  it('gives every acknowledgement a real reason', () => {
    const acknowledgements = stack.node
      .findAll()
      .flatMap((construct) => construct.node.metadata)
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) => Object.entries(entry.data as Record<string, string>));
    expect(acknowledgements.length).toBeGreaterThan(0);
    for (const [, reason] of acknowledgements) expect(reason.length).toBeGreaterThan(40);
  });

  it('runs on every synth of the app and stops it on a finding', () => {
    const app = createApp({ context: { ...FEATURE_FLAGS, ...NO_BUNDLING, cronofy: cronofyContext } });
    new Queue(app.node.findChild('CronofyNotifications-dev'), 'PlainQueue');
    expect(() => app.synth()).toThrow(/AwsSolutions-SQS4/);
  });
});
