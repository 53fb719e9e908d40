import type { CfnElement, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { CRONOFY_RATE_LIMIT } from '#shared/cronofy/rate-limiter.ts';
import { createApp } from '../../infra/app.ts';
import type { AppFunction } from '../../infra/constructs/app-function.ts';
import { CRONOFY_CALLERS, cronofyRateShare, TABLE } from '../../infra/definitions.ts';
import { CRONOFY_CONTEXT, FEATURE_FLAGS, NO_BUNDLING } from './cdk-context.ts';

/**
 * The scheduling-request routes and reconciliation as deployed: the functions, their rate-limit share and
 * reserved concurrency, least privilege, the sparse index, the schedule, and the alarms on Cronofy failures
 * and on reconciliation changes.
 */

type Json = Record<string, unknown>;
// biome-ignore lint/suspicious/noExplicitAny: synthesized CloudFormation is untyped JSON
type Resource = { Type: string; Properties: Record<string, any> };

function build(cronofy: Json = {}): {
  stack: Stack;
  template: Template;
  resources: Record<string, Resource>;
} {
  const app = createApp({
    context: { ...FEATURE_FLAGS, ...NO_BUNDLING, cronofy: { ...CRONOFY_CONTEXT, ...cronofy } },
  });
  const stack = app.node.findChild('CronofyNotifications-dev') as Stack;
  const template = Template.fromStack(stack);
  return { stack, template, resources: template.toJSON().Resources };
}

let stack: Stack;
let template: Template;
let resources: Record<string, Resource>;
beforeAll(() => {
  ({ stack, template, resources } = build());
});

const id = (construct: IConstruct) => stack.getLogicalId(construct.node.defaultChild as CfnElement);
const fn = (name: 'SchedulingRequests' | 'Reconcile') => stack.node.findChild(name) as AppFunction;
const tableId = () =>
  Object.entries(resources).find(
    ([, r]) => r.Type === 'AWS::DynamoDB::GlobalTable' && r.Properties.StreamSpecification,
  )?.[0];

/** Every Allow statement of the function's role, but those on the tenants table and key (test/infra/tenants.test.ts). */
function statements(
  name: 'SchedulingRequests' | 'Reconcile',
): { Action: string | string[]; Resource: unknown }[] {
  const roleId = id(fn(name).role);
  return Object.values(resources)
    .filter(
      (r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((role: Json) => role.Ref === roleId),
    )
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement)
    .filter((statement: Json) => statement.Effect === 'Allow')
    .filter((statement: Json) => !/TenantsTable|TenantsKey/.test(JSON.stringify(statement.Resource)));
}
const actions = (name: 'SchedulingRequests' | 'Reconcile') =>
  statements(name)
    .flatMap((statement) => [statement.Action].flat())
    .filter((action) => !/^(logs|xray):/.test(action))
    .sort();

describe('Cronofy-calling functions', () => {
  it('reserve their concurrency, and each instance gets a share that keeps all of them within Cronofy’s limits', () => {
    const share = cronofyRateShare();
    const instances =
      CRONOFY_CALLERS.schedulingRequests.reservedConcurrency + CRONOFY_CALLERS.reconcile.reservedConcurrency;
    expect(instances * share.perSecond).toBeLessThanOrEqual(CRONOFY_RATE_LIMIT.perSecond);
    expect(instances * share.perMinute).toBeLessThanOrEqual(CRONOFY_RATE_LIMIT.perMinute);
    for (const [name, reserved] of [
      ['SchedulingRequests', CRONOFY_CALLERS.schedulingRequests.reservedConcurrency],
      ['Reconcile', CRONOFY_CALLERS.reconcile.reservedConcurrency],
    ] as const) {
      const props = resources[id(fn(name).function)]?.Properties;
      expect(props?.ReservedConcurrentExecutions).toBe(reserved);
      expect(props?.Environment.Variables).toMatchObject({
        CRONOFY_DATA_CENTER: CRONOFY_CONTEXT.dataCenter,
        CRONOFY_RATE_PER_SECOND: String(share.perSecond),
        CRONOFY_RATE_PER_MINUTE: String(share.perMinute),
        METRICS_NAMESPACE: 'CronofyNotifications/dev',
      });
      // Local mode only: a deployed function always calls Cronofy's own host.
      expect(props?.Environment.Variables.CRONOFY_API_URL).toBeUndefined();
    }
    expect(
      resources[id(fn('Reconcile').function)]?.Properties.Environment.Variables.RECONCILE_MAX_CALLS,
    ).toBe('100');
  });

  it('let the scheduling-requests function read the secret and write its items, on the table alone', () => {
    expect(actions('SchedulingRequests')).toEqual([
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:UpdateItem',
      'secretsmanager:GetSecretValue',
    ]);
    const dynamo = statements('SchedulingRequests').filter((s) =>
      [s.Action].flat().some((a) => a.startsWith('dynamodb:')),
    );
    expect(dynamo.map((s) => s.Resource)).toEqual([{ 'Fn::GetAtt': [tableId(), 'Arn'] }]);
  });

  it('let reconciliation query the open-requests index only, and read and write records', () => {
    expect(actions('Reconcile')).toEqual([
      'dynamodb:BatchGetItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Query',
      'dynamodb:UpdateItem',
      'secretsmanager:GetSecretValue',
    ]);
    const query = statements('Reconcile').find((s) => [s.Action].flat().includes('dynamodb:Query'));
    expect(JSON.stringify(query?.Resource)).toContain(`/index/${TABLE.openIndex.name}`);
    expect(JSON.stringify(query?.Resource)).not.toContain('/index/*');
  });

  it('give no other function access to the index', () => {
    expect(JSON.stringify(resources)).not.toContain('/index/*');
  });
});

describe('open-requests index', () => {
  it('is a sparse index on open_bucket / open_until projecting the request id', () => {
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      GlobalSecondaryIndexes: [
        {
          IndexName: TABLE.openIndex.name,
          KeySchema: [
            { AttributeName: 'open_bucket', KeyType: 'HASH' },
            { AttributeName: 'open_until', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['scheduling_request_id'] },
        },
      ],
    });
  });
});

describe('reconciliation schedule', () => {
  it('invokes the reconcile function every reconcileIntervalMinutes, without retries', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(1 hour)',
      Targets: [
        Match.objectLike({
          Arn: { 'Fn::GetAtt': [id(fn('Reconcile').function), 'Arn'] },
          Input: JSON.stringify({ allOpen: true }),
          RetryPolicy: { MaximumRetryAttempts: 0 },
        }),
      ],
    });
    const other = build({ reconcileIntervalMinutes: 15 }).template;
    other.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(15 minutes)' });
  });

  it('is off with reconcileIntervalMinutes 0', () => {
    build({ reconcileIntervalMinutes: 0 }).template.resourceCountIs('AWS::Events::Rule', 0);
  });

  it('outputs the function name ops reconcile invokes', () => {
    expect(template.toJSON().Outputs.ReconcileFunctionName.Value).toEqual({
      Ref: id(fn('Reconcile').function),
    });
  });
});

describe('alarms', () => {
  const alarm = (name: string) =>
    Object.values(resources).find(
      (r) => r.Type === 'AWS::CloudWatch::Alarm' && JSON.stringify(r.Properties).includes(name),
    )?.Properties;

  it.each([
    ['CronofyCredentialRejected', 1],
    ['CronofyRateLimited', 5],
    ['ReconciliationChanges', 1],
    ['ReconciliationFailures', 1],
  ])('fires on %s (threshold %d) from the stage namespace', (metric, threshold) => {
    const props = alarm(`"MetricName":"${metric}"`);
    expect(props).toBeDefined();
    expect(props?.Namespace).toBe('CronofyNotifications/dev');
    expect(props?.Threshold).toBe(threshold);
    expect(props?.AlarmActions).toHaveLength(1);
  });

  it('looks at reconciliation over one interval, so a run is always inside the period', () => {
    expect(alarm('"MetricName":"ReconciliationChanges"')?.Period).toBe(3600);
  });

  it('sums Cronofy unavailability and unusable answers into one alarm', () => {
    const props = alarm('CronofyUnavailable');
    expect(JSON.stringify(props?.Metrics)).toContain('CronofyErrors');
  });

  it('graphs Cronofy failures and reconciliation on the dashboard', () => {
    const dashboard = Object.values(resources).find((r) => r.Type === 'AWS::CloudWatch::Dashboard');
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);
    for (const metric of ['CronofyCredentialRejected', 'ReconciliationChanges', 'SchedulingRequestsCreated'])
      expect(body).toContain(metric);
  });
});
