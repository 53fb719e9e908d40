import { readFileSync } from 'node:fs';
import { FeatureFlags, type Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../infra/app.ts';
import { ROUTE_THROTTLES, ROUTES } from '../../infra/definitions.ts';
import { CRONOFY_CONTEXT, FEATURE_FLAGS, NO_BUNDLING } from './cdk-context.ts';

/**
 * What a deploy from a fresh clone gets beyond the resources themselves: the CDK's recommended feature flags,
 * ready-to-paste URL outputs, a stage-specific API name, an encrypted alarm topic CloudWatch can publish to,
 * and per-route throttles that keep recipients' traffic from using up Cronofy's.
 */

type Json = Record<string, unknown>;
type Resource = { Type: string; Properties: Json; DependsOn?: string[] };

const RECOMMENDED: Record<string, unknown> = JSON.parse(
  readFileSync(
    new URL('../../node_modules/aws-cdk-lib/recommended-feature-flags.json', import.meta.url),
    'utf8',
  ),
);

function build(context: Json = {}, stage = 'dev'): { stack: Stack; template: Template } {
  const app = createApp({
    context: { ...FEATURE_FLAGS, ...NO_BUNDLING, cronofy: CRONOFY_CONTEXT, stage, ...context },
  });
  const stack = app.node.findChild(`CronofyNotifications-${stage}`) as Stack;
  return { stack, template: Template.fromStack(stack) };
}

let stack: Stack;
let template: Template;
let resources: Record<string, Resource>;

beforeAll(() => {
  ({ stack, template } = build());
  resources = template.toJSON().Resources;
});

function ofType(type: string): Array<[string, Resource]> {
  return Object.entries(resources).filter(([, r]) => r.Type === type);
}

/** Resolve an output value the way CloudFormation would, for a made-up API id and region. */
function render(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Json;
  if (v['Fn::Join']) {
    const [separator, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map(render).join(separator);
  }
  if (v['Fn::GetAtt']) {
    const [id, attribute] = v['Fn::GetAtt'] as [string, string];
    if (resources[id]?.Type === 'AWS::ApiGatewayV2::Api' && attribute === 'ApiEndpoint')
      return 'https://abc123.execute-api.eu-west-1.amazonaws.com';
  }
  // A dashboard's Ref is its name.
  const ref = resources[String(v.Ref)];
  if (ref?.Type === 'AWS::CloudWatch::Dashboard') return String(ref.Properties.DashboardName);
  if (v.Ref === 'AWS::Region') return 'eu-west-1';
  if (v.Ref === 'AWS::URLSuffix') return 'amazonaws.com';
  throw new Error(`cannot render ${JSON.stringify(value)}`);
}

function output(name: string): string {
  const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
  expect(outputs[name], `output ${name}`).toBeDefined();
  return render(outputs[name]?.Value);
}

describe('feature flags', () => {
  it('sets every flag aws-cdk-lib recommends (what `cdk init` writes) to its recommended value', () => {
    expect(Object.keys(RECOMMENDED).length).toBeGreaterThan(80);
    for (const [flag, value] of Object.entries(RECOMMENDED)) {
      expect(FEATURE_FLAGS[flag], flag).toEqual(value);
    }
  });

  it('reach the app built from cdk.json', () => {
    for (const flag of ['@aws-cdk/aws-iam:minimizePolicies', '@aws-cdk/core:checkSecretUsage']) {
      expect(FeatureFlags.of(stack).isEnabled(flag), flag).toBe(true);
    }
  });

  it('minimize IAM policies: every statement lists its actions once, sorted (minimizePolicies)', () => {
    const statements = ofType('AWS::IAM::Policy').flatMap(
      ([, p]) =>
        (p.Properties.PolicyDocument as { Statement: Array<{ Action: string | string[] }> }).Statement,
    );
    const lists = statements.map((s) => [s.Action].flat()).filter((actions) => actions.length > 1);
    expect(lists.length).toBeGreaterThan(2);
    for (const actions of lists) expect(actions).toEqual([...new Set(actions)].sort());
  });
});

describe('outputs', () => {
  it('give the API base URL without a trailing slash', () => {
    expect(output('ApiUrl')).toBe('https://abc123.execute-api.eu-west-1.amazonaws.com');
  });

  it('give the full notification URL to paste into Cronofy, with no double slash', () => {
    const url = output('NotificationUrl');
    expect(url).toBe('https://abc123.execute-api.eu-west-1.amazonaws.com/cronofy/notifications');
    expect(url.replace('https://', '')).not.toContain('//');
  });

  it('give the redirect and link base URLs', () => {
    expect(output('RedirectBaseUrl')).toBe('https://abc123.execute-api.eu-west-1.amazonaws.com/redirects');
    expect(output('LinksBaseUrl')).toBe('https://abc123.execute-api.eu-west-1.amazonaws.com/links');
  });

  it('name the dashboard', () => {
    expect(output('DashboardName')).toBe('CronofyNotifications-dev');
  });
});

describe('HTTP API name', () => {
  it('is the stage’s stack name, so two stages are told apart in the console', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { Name: 'CronofyNotifications-dev' });
    build({}, 'prod').template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      Name: 'CronofyNotifications-prod',
    });
  });
});

describe('alarm topic encryption', () => {
  it('encrypts the topic with a customer managed key that rotates (not alias/aws/sns)', () => {
    // The alarm topic's key (the tenants key is the other one: test/infra/tenants.test.ts).
    const [keyId] =
      (ofType('AWS::KMS::Key') as [string, Resource][]).find(([id]) => id.includes('AlarmTopicKey')) ?? [];
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    expect(JSON.stringify(template.toJSON())).not.toContain('alias/aws/sns');
  });

  it('lets CloudWatch alarms use the key to publish', () => {
    template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      },
    });
  });

  it("lets only this account's alarms publish to the topic, over TLS", () => {
    const [[topicId]] = ofType('AWS::SNS::Topic') as [[string, Resource]];
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: topicId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Condition: Match.objectLike({ StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } } }),
          }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: topicId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });
});

describe('per-route throttles', () => {
  const settings = () => {
    const [[, stage]] = ofType('AWS::ApiGatewayV2::Stage') as [[string, Resource]];
    return stage.Properties.RouteSettings as Record<
      string,
      { ThrottlingRateLimit: number; ThrottlingBurstLimit: number }
    >;
  };

  it('give every route its own limits', () => {
    expect(Object.keys(settings()).sort()).toEqual(ROUTES.map((r) => `${r.method} ${r.path}`).sort());
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      RouteSettings: Match.objectLike({
        'POST /cronofy/notifications': { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
        'POST /cronofy/notifications/{tenant_id}': { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
        'GET /redirects/{step}': { ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 },
        'GET /links/{name}': { ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 },
        'POST /tokens/claim': { ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20 },
        'POST /tokens/embed': { ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20 },
      }),
    });
  });

  it('keep recipient-facing and service routes below the notification route', () => {
    const all = settings();
    const notifications = all['POST /cronofy/notifications'];
    for (const route of ROUTES.filter((r) => r.throttle !== 'cronofy')) {
      const own = all[`${route.method} ${route.path}`];
      expect(own?.ThrottlingRateLimit).toBeLessThan(notifications?.ThrottlingRateLimit ?? 0);
    }
  });

  it('are created after the routes they name (API Gateway refuses settings for an unknown route)', () => {
    const [[, stage]] = ofType('AWS::ApiGatewayV2::Stage') as [[string, Resource]];
    const routeIds = ofType('AWS::ApiGatewayV2::Route').map(([id]) => id);
    expect(routeIds).toHaveLength(ROUTES.length);
    expect(stage.DependsOn ?? []).toEqual(expect.arrayContaining(routeIds));
  });

  it('take other limits per kind of caller from the stack props', async () => {
    const { App } = await import('aws-cdk-lib');
    const { CronofyNotificationsStack } = await import('../../infra/stack.ts');
    const { parseConfig } = await import('#shared/core/config.ts');
    const app = new App({ context: { ...FEATURE_FLAGS, ...NO_BUNDLING } });
    const custom = new CronofyNotificationsStack(app, 'Custom', {
      stage: 'custom',
      config: parseConfig(CRONOFY_CONTEXT),
      apiThrottle: { routes: { recipients: { rateLimit: 3, burstLimit: 6 } } },
    });
    Template.fromStack(custom).hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      RouteSettings: Match.objectLike({
        'GET /links/{name}': { ThrottlingRateLimit: 3, ThrottlingBurstLimit: 6 },
        'POST /cronofy/notifications': {
          ThrottlingRateLimit: ROUTE_THROTTLES.cronofy.rateLimit,
          ThrottlingBurstLimit: ROUTE_THROTTLES.cronofy.burstLimit,
        },
      }),
    });
  });
});
