import type { CfnElement, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../infra/app.ts';
import type { AppFunction } from '../../infra/constructs/app-function.ts';
import { ROUTES, TENANTS_TABLE } from '../../infra/definitions.ts';
import { CRONOFY_CONTEXT, FEATURE_FLAGS, NO_BUNDLING } from './cdk-context.ts';

/**
 * Tenants as deployed: their own table (no stream, PITR, TTL of OAuth states), the KMS key the stack owns, the
 * tenants function and its routes, least privilege on table and key (with the encryption context condition),
 * the configuration it reads, the disconnect alarm and the outputs.
 */

type Json = Record<string, unknown>;
// biome-ignore lint/suspicious/noExplicitAny: synthesized CloudFormation is untyped JSON
type Resource = { Type: string; Properties: Record<string, any>; DeletionPolicy?: string };

function build(cronofy: Json = {}) {
  const app = createApp({
    context: { ...FEATURE_FLAGS, ...NO_BUNDLING, cronofy: { ...CRONOFY_CONTEXT, ...cronofy } },
  });
  const stack = app.node.findChild('CronofyNotifications-dev') as Stack;
  const template = Template.fromStack(stack);
  return { stack, template, resources: template.toJSON().Resources as Record<string, Resource> };
}

let stack: Stack;
let template: Template;
let resources: Record<string, Resource>;
beforeAll(() => {
  ({ stack, template, resources } = build({
    clientId: 'app_client_id_1',
    onboarding: { successUrl: 'https://example.com/connected', errorUrl: 'https://example.com/failed' },
  }));
});

const id = (construct: IConstruct) => stack.getLogicalId(construct.node.defaultChild as CfnElement);
const fn = (name: string) => stack.node.findChild(name) as AppFunction;
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const tenantsTableId = () =>
  ofType('AWS::DynamoDB::GlobalTable').find(([, t]) => !t.Properties.StreamSpecification)?.[0] ?? '';
const tenantsKeyId = () => ofType('AWS::KMS::Key').find(([key]) => key.includes('TenantsKey'))?.[0] ?? '';

function statements(name: string): Json[] {
  const roleId = id(fn(name).role);
  return ofType('AWS::IAM::Policy')
    .filter(([, r]) => r.Properties.Roles.some((role: Json) => role.Ref === roleId))
    .flatMap(([, policy]) => policy.Properties.PolicyDocument.Statement as Json[]);
}
const onTenants = (name: string) =>
  statements(name).filter((s) => /TenantsTable|TenantsKey/.test(JSON.stringify(s.Resource)));

describe('tenants table and key', () => {
  it('keeps tenants in a table of their own: no stream, point-in-time recovery, OAuth states expire, retained', () => {
    const [, table] = ofType('AWS::DynamoDB::GlobalTable').find(([key]) => key === tenantsTableId()) ?? [];
    expect(table?.Properties.StreamSpecification).toBeUndefined();
    expect(table?.Properties.KeySchema).toEqual([
      { AttributeName: TENANTS_TABLE.partitionKey, KeyType: 'HASH' },
    ]);
    expect(table?.Properties.TimeToLiveSpecification).toEqual({
      AttributeName: TENANTS_TABLE.ttlAttribute,
      Enabled: true,
    });
    expect(table?.Properties.Replicas[0].PointInTimeRecoverySpecification).toEqual({
      PointInTimeRecoveryEnabled: true,
    });
    expect(table?.Properties.Replicas[0].DeletionProtectionEnabled).toBe(true);
    expect(table?.DeletionPolicy).toBe('Retain');
  });

  it('encrypts credentials with a key the stack owns, rotated, retained', () => {
    const key = resources[tenantsKeyId()];
    expect(key?.Properties.EnableKeyRotation).toBe(true);
    expect(key?.DeletionPolicy).toBe('Retain');
  });
});

describe('tenants function', () => {
  it('serves the tenant routes (IAM) and the OAuth callback (public)', () => {
    const tenantRoutes = ROUTES.filter((route) => route.function === 'tenants');
    expect(tenantRoutes.map((route) => `${route.method} ${route.path}`).sort()).toEqual([
      'DELETE /tenants/{tenant_id}',
      'GET /oauth/cronofy/callback',
      'GET /tenants',
      'GET /tenants/{tenant_id}',
      'POST /tenants/{tenant_id}/onboarding',
      'PUT /tenants/{tenant_id}',
    ]);
    for (const route of tenantRoutes) {
      template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
        RouteKey: `${route.method} ${route.path}`,
        AuthorizationType: route.path === '/oauth/cronofy/callback' ? 'NONE' : 'AWS_IAM',
      });
    }
  });

  it('reads its configuration, the tenants table, the key, the secret and the API URL from its environment', () => {
    const variables = resources[id(fn('Tenants').function)]?.Properties.Environment.Variables;
    expect(variables).toMatchObject({
      TENANTS_TABLE_NAME: { Ref: tenantsTableId() },
      TENANTS_KEY_ARN: { 'Fn::GetAtt': [tenantsKeyId(), 'Arn'] },
      CRONOFY_CLIENT_ID: 'app_client_id_1',
      ONBOARDING_SUCCESS_URL: 'https://example.com/connected',
      ONBOARDING_ERROR_URL: 'https://example.com/failed',
      CRONOFY_DATA_CENTER: CRONOFY_CONTEXT.dataCenter,
    });
    expect(JSON.stringify(variables.API_URL)).toContain('ApiEndpoint');
    // Never the records table: tenants' items stay off the downstream stream.
    expect(variables.TABLE_NAME).toBeUndefined();
  });

  it('leaves the client id and onboarding pages out when they are not configured', () => {
    const { stack: bare, resources: bareResources } = build();
    const fnId = bare.getLogicalId(
      (bare.node.findChild('Tenants') as AppFunction).function.node.defaultChild as CfnElement,
    );
    const variables = bareResources[fnId]?.Properties.Environment.Variables;
    expect(variables.CRONOFY_CLIENT_ID).toBeUndefined();
    expect(variables.ONBOARDING_SUCCESS_URL).toBeUndefined();
  });
});

describe('least privilege on tenants', () => {
  const kmsStatement = (name: string) =>
    onTenants(name).find((s) => JSON.stringify(s.Action).includes('kms:'));
  const tableActions = (name: string) =>
    onTenants(name)
      .filter((s) => JSON.stringify(s.Action).includes('dynamodb:'))
      .flatMap((s) => [s.Action].flat())
      .sort();

  it('gives each function only the table actions and KMS operations its use needs', () => {
    expect(tableActions('Tenants')).toEqual([
      'dynamodb:DeleteItem',
      'dynamodb:GetItem',
      'dynamodb:PutItem',
      'dynamodb:Scan',
      'dynamodb:UpdateItem',
    ]);
    expect([kmsStatement('Tenants')?.Action].flat().sort()).toEqual(['kms:Decrypt', 'kms:Encrypt']);
    for (const name of ['SchedulingRequests', 'Reconcile']) {
      // Reconciliation also counts the tenants per state for the dashboard (a Scan of their status).
      const scan = name === 'Reconcile' ? ['dynamodb:Scan'] : [];
      expect(tableActions(name)).toEqual(
        ['dynamodb:DeleteItem', 'dynamodb:GetItem', ...scan, 'dynamodb:UpdateItem'].sort(),
      );
      expect([kmsStatement(name)?.Action].flat().sort()).toEqual(['kms:Decrypt', 'kms:Encrypt']);
    }
    expect(tableActions('Ingest')).toEqual(['dynamodb:GetItem']);
    expect(kmsStatement('Ingest')?.Action).toBe('kms:Decrypt');
    expect(onTenants('Worker')).toEqual([]);
    expect(onTenants('Redirects')).toEqual([]);
    expect(onTenants('Tokens')).toEqual([]);
  });

  it('allows KMS only on the tenants key, only with the tenant_id and field encryption context, only for the fields each use needs', () => {
    const fieldsOf: Record<string, string[] | undefined> = {
      Tenants: undefined,
      SchedulingRequests: ['access_token', 'refresh_token'],
      Reconcile: ['access_token', 'refresh_token'],
      // The public notification route verifies signatures: it can never decrypt a tenant's OAuth tokens.
      Ingest: ['client_secrets'],
    };
    for (const [name, fields] of Object.entries(fieldsOf)) {
      const statement = kmsStatement(name);
      expect(statement?.Resource).toEqual({ 'Fn::GetAtt': [tenantsKeyId(), 'Arn'] });
      expect(statement?.Condition).toEqual({
        'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['tenant_id', 'field'] },
        Null: { 'kms:EncryptionContext:tenant_id': 'false', 'kms:EncryptionContext:field': 'false' },
        ...(fields ? { StringEquals: { 'kms:EncryptionContext:field': fields } } : {}),
      });
    }
  });

  it('lets the functions that read single items read only the items of their use (dynamodb:LeadingKeys)', () => {
    const tableStatement = (name: string) =>
      onTenants(name).find((s) => JSON.stringify(s.Action).includes('dynamodb:'));
    expect(tableStatement('Tenants')?.Condition).toBeUndefined();
    expect(tableStatement('SchedulingRequests')?.Condition).toEqual({
      'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['tenant#*', 'credential#*'] },
    });
    // Reconciliation also counts the tenants per status: a Scan, which DynamoDB cannot restrict by key.
    expect(tableStatement('Reconcile')?.Condition).toBeUndefined();
    expect(tableStatement('Ingest')?.Condition).toEqual({
      'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['tenant#*'] },
    });
  });
});

describe('tenant monitoring and outputs', () => {
  it('has a dashboard row for tenants: per state, refreshes, disconnections and rejections', () => {
    const dashboards = template.findResources('AWS::CloudWatch::Dashboard');
    const body = JSON.stringify(Object.values(dashboards)[0]?.Properties.DashboardBody);
    for (const metric of [
      'TenantsConnected',
      'TenantsDisconnected',
      'TenantsRegistered',
      'TokenRefreshes',
      'TenantDisconnections',
      'TenantMismatches',
    ])
      expect(body).toContain(metric);
  });

  it('alarms on any tenant Cronofy disconnected', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'TenantDisconnections',
      Namespace: 'CronofyNotifications/dev',
      Threshold: 1,
      ComparisonOperator: Match.stringLikeRegexp('GreaterThanOrEqual'),
    });
  });

  it('outputs the OAuth callback URL to register with Cronofy, the tenants table and key', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(JSON.stringify(outputs.OAuthCallbackUrl?.Value)).toContain('/oauth/cronofy/callback');
    expect(outputs.TenantsTableName?.Value).toEqual({ Ref: tenantsTableId() });
    expect(outputs.TenantsKeyArn?.Value).toEqual({ 'Fn::GetAtt': [tenantsKeyId(), 'Arn'] });
  });
});
