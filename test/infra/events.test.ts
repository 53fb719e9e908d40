import { readFileSync } from 'node:fs';
import { App, Stack as CdkStack, type CfnElement, type Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { EventBus, Match as EventMatch, Rule } from 'aws-cdk-lib/aws-events';
import { SqsQueue } from 'aws-cdk-lib/aws-events-targets';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { DETAIL_TYPES, EVENT_SOURCE, eventJsonSchema } from '#shared/events/schemas.ts';
import { createApp } from '../../infra/app.ts';
import type { AppFunction } from '../../infra/constructs/app-function.ts';
import type { DownstreamEvents } from '../../infra/constructs/events.ts';
import { EVENTS } from '../../infra/definitions.ts';
import { CRONOFY_CONTEXT, FEATURE_FLAGS, NO_BUNDLING } from './cdk-context.ts';

/** Downstream events in AWS (infra/README.md, "Downstream events"): the bus, the stream function feeding it, its DLQ and alarms, the schemas. */

type Resource = {
  Type: string;
  // biome-ignore lint/suspicious/noExplicitAny: synthesized CloudFormation is untyped JSON; the assertions check its shape
  Properties: Record<string, any>;
};

let stack: Stack;
let template: Template;
let resources: Record<string, Resource>;

beforeAll(() => {
  const app = createApp({ context: { ...FEATURE_FLAGS, ...NO_BUNDLING, cronofy: CRONOFY_CONTEXT } });
  stack = app.node.findChild('CronofyNotifications-dev') as Stack;
  template = Template.fromStack(stack);
  resources = template.toJSON().Resources;
});

const logicalId = (construct: IConstruct) => stack.getLogicalId(construct.node.defaultChild as CfnElement);
const eventsFunction = () => (stack.node.findChild('Events') as AppFunction).function;
const downstream = () => stack.node.findChild('DownstreamEvents') as DownstreamEvents;
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

describe('event bus', () => {
  it('is a custom bus, named in the outputs EventBusName and EventBusArn', () => {
    const [[busId] = []] = ofType('AWS::Events::EventBus');
    expect(ofType('AWS::Events::EventBus')).toHaveLength(1);
    template.hasOutput('EventBusName', { Value: { Ref: busId } });
    template.hasOutput('EventBusArn', { Value: { 'Fn::GetAtt': [busId, 'Arn'] } });
  });

  it('the events function may put events on that bus only, and knows its name', () => {
    const busId = logicalId(downstream().bus);
    const fn = resources[logicalId(eventsFunction())] as Resource;
    expect(fn.Properties.Environment.Variables.EVENT_BUS_NAME).toEqual({ Ref: busId });
    const statements = ofType('AWS::IAM::Policy').flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
    const puts = statements.filter((s) => [s.Action].flat().includes('events:PutEvents'));
    expect(puts).toEqual([
      expect.objectContaining({ Effect: 'Allow', Resource: { 'Fn::GetAtt': [busId, 'Arn'] } }),
    ]);
  });
});

describe('stream to bus', () => {
  it('the events function may only read the stream, put on the bus, dead-letter, log and trace', () => {
    const role = (stack.node.findChild('Events') as AppFunction).function.role;
    const policies = ofType('AWS::IAM::Policy').filter(([, p]) =>
      p.Properties.Roles.some((r: { Ref: string }) => r.Ref === logicalId(role as unknown as IConstruct)),
    );
    const actions = policies
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement)
      .flatMap((s: { Action: string | string[] }) => [s.Action].flat())
      .sort();
    expect(actions).toEqual([
      'dynamodb:DescribeStream',
      'dynamodb:GetRecords',
      'dynamodb:GetShardIterator',
      'dynamodb:ListStreams',
      'events:PutEvents',
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'sqs:GetQueueAttributes',
      'sqs:GetQueueUrl',
      'sqs:SendMessage',
      'xray:PutTelemetryRecords',
      'xray:PutTraceSegments',
    ]);
  });

  it('reads the table stream in order, with partial batch failures, bisecting, retries and a dead-letter queue', () => {
    const dlqId = logicalId(downstream().deadLetterQueue);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalId(eventsFunction()) },
      EventSourceArn: Match.objectLike({ 'Fn::GetAtt': Match.arrayWith(['StreamArn']) }),
      StartingPosition: 'TRIM_HORIZON',
      ParallelizationFactor: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: EVENTS.retryAttempts,
      MaximumRecordAgeInSeconds: EVENTS.maxRecordAgeHours * 3600,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [dlqId, 'Arn'] } } },
    });
  });

  it('invokes the function only for inserts and updates of scheduling requests, events and event triggers', () => {
    const [, mapping] =
      ofType('AWS::Lambda::EventSourceMapping').find(([, m]) => m.Properties.StartingPosition) ?? [];
    const patterns = mapping?.Properties.FilterCriteria.Filters.map((f: { Pattern: string }) =>
      JSON.parse(f.Pattern),
    );
    expect(patterns).toEqual([
      {
        eventName: ['INSERT', 'MODIFY'],
        dynamodb: { NewImage: { entity: { S: ['scheduling_request', 'event', 'event_trigger'] } } },
      },
    ]);
  });

  it('alarms on the dead-letter queue and on events lagging behind the table', () => {
    const alarms = ofType('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
    const dlqName = { 'Fn::GetAtt': [logicalId(downstream().deadLetterQueue), 'QueueName'] };
    expect(alarms).toContainEqual(
      expect.objectContaining({
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: dlqName }],
        Threshold: 1,
      }),
    );
    expect(alarms).toContainEqual(
      expect.objectContaining({
        MetricName: 'IteratorAge',
        Namespace: 'AWS/Lambda',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(eventsFunction()) } }],
        Threshold: 5 * 60 * 1000,
      }),
    );
  });
});

describe('the example rule of infra/README.md', () => {
  it('synthesizes to the JSON pattern the README gives', () => {
    const consumer = new CdkStack(new App(), 'Consumer');
    new Rule(consumer, 'AcmeSchedulingRequests', {
      eventBus: EventBus.fromEventBusName(consumer, 'CronofyBus', 'bus'),
      eventPattern: {
        source: ['cronofy.notifications'],
        detailType: EventMatch.prefix('scheduling_request.'),
        detail: { tenant_id: ['acme'] },
      },
      targets: [new SqsQueue(new Queue(consumer, 'AcmeQueue'))],
    });
    const readme = readFileSync(new URL('../../infra/README.md', import.meta.url), 'utf8');
    const documented = /The pattern as JSON: `([^`]+)`/.exec(readme)?.[1] ?? '';
    Template.fromStack(consumer).hasResourceProperties('AWS::Events::Rule', {
      EventPattern: JSON.parse(documented),
    });
  });
});

describe('schema registry', () => {
  it('has one JSON Schema (draft 4) per detail-type, the same as shared/events/schemas/', () => {
    const [[registryId] = []] = ofType('AWS::EventSchemas::Registry');
    const schemas = ofType('AWS::EventSchemas::Schema').map(([, s]) => s.Properties);
    expect(schemas.map((s) => s.SchemaName).sort()).toEqual(
      DETAIL_TYPES.map((d) => `${EVENT_SOURCE}@${d}`).sort(),
    );
    for (const schema of schemas) {
      const detailType = schema.SchemaName.split('@')[1];
      expect(schema.Type).toBe('JSONSchemaDraft4');
      expect(schema.RegistryName).toEqual({ 'Fn::GetAtt': [registryId, 'RegistryName'] });
      expect(JSON.parse(schema.Content)).toEqual(eventJsonSchema(detailType));
    }
  });
});
