import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import {
  AttributeType,
  Billing,
  ProjectionType,
  StreamViewType,
  TableEncryptionV2,
  TableV2,
} from 'aws-cdk-lib/aws-dynamodb';
import { Rule, RuleTargetInput, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { Key } from 'aws-cdk-lib/aws-kms';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { ENV } from '#shared/contract/env.ts';
import type { CronofyConfig } from '#shared/core/config.ts';
import { AppFunction } from './constructs/app-function.ts';
import {
  bindCronofy,
  bindQueueSender,
  bindSecret,
  bindTable,
  bindTenants,
  TABLE_ACTIONS,
  TENANT_ACCESS,
} from './constructs/bindings.ts';
import { DownstreamEvents } from './constructs/events.ts';
import { type ApiThrottleProps, NotificationsHttpApi } from './constructs/http-api.ts';
import { Monitoring, type MonitoringProps } from './constructs/monitoring.ts';
import {
  CRONOFY_CALLERS,
  cronofyRateShare,
  FUNCTIONS,
  type FunctionName,
  QUEUE,
  ROUTES,
  TABLE,
  TENANTS_TABLE,
  WORKER,
} from './definitions.ts';

/** Function entries in definitions.ts are relative to the project root, whatever the working directory. */
const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Lambda refuses a function whose environment exceeds 4 KB; leave room for the other variables. */
const MAX_PUBLIC_CONFIG_BYTES = 3 * 1024;

export interface CronofyNotificationsStackProps extends StackProps {
  /** The validated `cronofy` context (shared/core/config.ts). */
  readonly config: CronofyConfig;
  /** Deployment stage (`dev`, `prod`, …): independent copies of the system side by side. */
  readonly stage: string;
  /**
   * Complete ARN of an existing secret holding `{"client_secrets":[…],"embed_public_key":…,"embed_secret":…}`.
   * @default - a new secret, with values that accept nothing until you put the real ones
   */
  readonly secretArn?: string;
  /**
   * Alarm subscribers and thresholds.
   * @default - the MonitoringProps defaults, no subscribers
   */
  readonly monitoring?: MonitoringProps;
  /**
   * @default - the ApiThrottleProps defaults
   */
  readonly apiThrottle?: ApiThrottleProps;
}

/**
 * Cronofy → POST /cronofy/notifications (ingest) → SQS queue → worker → DynamoDB table → stream →
 * downstream; plus browser → /redirects, /links and service → /tokens. Everything is built from
 * infra/definitions.ts, the same values local mode uses.
 */
export class CronofyNotificationsStack extends Stack {
  constructor(scope: Construct, id: string, props: CronofyNotificationsStackProps) {
    super(scope, id, props);
    const { config } = props;
    assertQueueFitsWorker();

    const functions = this.createFunctions(config.logRetentionDays);
    const { ingest, worker, redirects, tokens, schedulingRequests, reconcile, events, tenants } = functions;

    // Encryption at rest with the AWS owned key: no KMS key to pay for or to grant, no KMS calls per request.
    const table = new TableV2(this, 'Records', {
      partitionKey: { name: TABLE.partitionKey, type: AttributeType.STRING },
      billing: Billing.onDemand(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      dynamoStream: StreamViewType[TABLE.streamViewType],
      timeToLiveAttribute: TABLE.ttlAttribute,
      encryption: TableEncryptionV2.dynamoOwnedKey(),
      // The table is the downstream contract: neither `cdk destroy` nor a replacement may take it away.
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Only open scheduling requests carry the index's keys (shared/contract/open-index.ts): reconciliation
    // reads them without scanning the table, and the index costs a write only when one opens or closes.
    table.addGlobalSecondaryIndex({
      indexName: TABLE.openIndex.name,
      partitionKey: { name: TABLE.openIndex.partitionKey, type: AttributeType.STRING },
      sortKey: { name: TABLE.openIndex.sortKey, type: AttributeType.STRING },
      projectionType: ProjectionType.INCLUDE,
      nonKeyAttributes: ['scheduling_request_id'],
    });

    const deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // The longest SQS allows. A standard queue keeps a message's original enqueue time when it moves here,
      // so this is counted from when ingest accepted it.
      retentionPeriod: Duration.days(14),
      maxMessageSizeBytes: QUEUE.maximumMessageBytes,
    });
    // SQS-managed encryption rather than a KMS key: no per-message KMS calls or key grants on the hot path.
    const queue = new Queue(this, 'Queue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(QUEUE.visibilityTimeoutSeconds),
      retentionPeriod: Duration.days(QUEUE.retentionDays),
      maxMessageSizeBytes: QUEUE.maximumMessageBytes,
      deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: QUEUE.maxReceiveCount },
    });

    const secret = this.createSecret(props.secretArn);

    bindSecret(ingest, secret, config.secretsCacheSeconds);
    bindQueueSender(ingest, queue);

    bindTable(worker, table, TABLE_ACTIONS.applyNotifications);
    const metricsNamespace = `CronofyNotifications/${props.stage}`;
    worker.function.addEnvironment(ENV.metricsNamespace, metricsNamespace);
    worker.function.addEnvironment(ENV.notificationRetentionDays, String(config.notificationRetentionDays));
    worker.function.addEventSource(
      new SqsEventSource(queue, {
        batchSize: WORKER.batchSize,
        maxBatchingWindow: Duration.seconds(WORKER.maxBatchingWindowSeconds),
        // The worker answers with the messages that failed, so one bad message never replays its batch.
        reportBatchItemFailures: true,
        maxConcurrency: config.workerMaxConcurrency,
      }),
    );

    bindTable(redirects, table, TABLE_ACTIONS.recordRedirects);
    bindSecret(redirects, secret, config.secretsCacheSeconds);
    redirects.addEnvironment(ENV.publicConfig, publicConfigJson(config));

    bindSecret(tokens, secret, config.secretsCacheSeconds);

    // The functions that call Cronofy: each instance gets its share of the per-application rate limit.
    const share = cronofyRateShare();
    for (const fn of [schedulingRequests, reconcile]) {
      bindSecret(fn, secret, config.secretsCacheSeconds);
      bindCronofy(fn, config.dataCenter, share);
      fn.addEnvironment(ENV.metricsNamespace, metricsNamespace);
    }
    bindTable(schedulingRequests, table, TABLE_ACTIONS.schedulingRequests);
    bindTable(reconcile, table, TABLE_ACTIONS.reconcile, [TABLE.openIndex.name]);
    reconcile.addEnvironment(ENV.reconcileMaxCalls, String(config.reconcileMaxCalls));
    if (config.reconcileIntervalMinutes > 0) {
      new Rule(this, 'ReconcileSchedule', {
        description: 'Re-read open scheduling requests from Cronofy (cronofy.reconcileIntervalMinutes)',
        schedule: Schedule.rate(Duration.minutes(config.reconcileIntervalMinutes)),
        // No retry: a failed run is picked up by the next one, and a retry would only call a failing Cronofy again.
        targets: [
          new LambdaFunction(reconcile.function, {
            event: RuleTargetInput.fromObject({ allOpen: true }),
            retryAttempts: 0,
          }),
        ],
      });
    }

    const downstream = new DownstreamEvents(this, 'DownstreamEvents', { table, publisher: events });
    // Tenants: a table of their own (no stream: no credential or OAuth state may reach the records' stream), their
    // Organization Connect tokens and client secrets encrypted client-side with a key this stack owns.
    const tenantsKey = new Key(this, 'TenantsKey', {
      description: "Encrypts tenants' Cronofy credentials (Organization Connect tokens, client secrets)",
      enableKeyRotation: true,
      // Without the key, every stored credential is lost: keep it if the stack goes.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const tenantsTable = new TableV2(this, 'TenantsTable', {
      partitionKey: { name: TENANTS_TABLE.partitionKey, type: AttributeType.STRING },
      billing: Billing.onDemand(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: TENANTS_TABLE.ttlAttribute,
      // The secrets in it are encrypted with the tenants key before they are written; the table itself with the
      // AWS owned key (no grant needed for the names and statuses).
      encryption: TableEncryptionV2.dynamoOwnedKey(),
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    bindTenants(tenants, tenantsTable, tenantsKey, TENANT_ACCESS.manage);
    bindSecret(tenants, secret, config.secretsCacheSeconds);
    tenants.addEnvironment(ENV.cronofyDataCenter, config.dataCenter);
    if (config.clientId) tenants.addEnvironment(ENV.cronofyClientId, config.clientId);
    if (config.onboarding.successUrl)
      tenants.addEnvironment(ENV.onboardingSuccessUrl, config.onboarding.successUrl);
    if (config.onboarding.errorUrl)
      tenants.addEnvironment(ENV.onboardingErrorUrl, config.onboarding.errorUrl);
    // The functions that call Cronofy for a tenant (its OU token, refreshed when due) and the notification route
    // that verifies a tenant's signatures.
    bindTenants(schedulingRequests, tenantsTable, tenantsKey, TENANT_ACCESS.callCronofy);
    bindTenants(reconcile, tenantsTable, tenantsKey, TENANT_ACCESS.reconcile);
    for (const fn of [schedulingRequests, reconcile])
      if (config.clientId) fn.addEnvironment(ENV.cronofyClientId, config.clientId);
    bindTenants(ingest, tenantsTable, tenantsKey, TENANT_ACCESS.verifyNotifications);

    const http = new NotificationsHttpApi(this, 'Http', {
      routes: ROUTES,
      functions,
      accessLogRetentionDays: config.logRetentionDays,
      throttle: props.apiThrottle,
      apiName: this.stackName,
    });

    // The redirect_uri of Organization Connect and the base of tenants' notification URLs.
    tenants.addEnvironment(ENV.apiUrl, http.url);

    const monitoring = new Monitoring(this, 'Monitoring', {
      ...props.monitoring,
      apiStage: http.stage,
      ingest,
      worker,
      queue,
      deadLetterQueue,
      table,
      schedulingRequests,
      reconcile,
      reconcileIntervalMinutes: config.reconcileIntervalMinutes,
      logMetricsNamespace: metricsNamespace,
      events,
      eventsDeadLetterQueue: downstream.deadLetterQueue,
    });

    // Ready to paste: no trailing slash on the base URL, so `<ApiUrl>/path` never has a double slash.
    new CfnOutput(this, 'ApiUrl', {
      value: http.url,
      description: 'Base URL of the HTTP API (no trailing slash)',
    });
    new CfnOutput(this, 'NotificationUrl', {
      value: `${http.url}/cronofy/notifications`,
      description:
        "Give this to Cronofy: Scheduler Workflows' Universal Push Notification URL, the Embed webhook callback URL, event subscriptions' uri",
    });
    new CfnOutput(this, 'RedirectBaseUrl', {
      value: `${http.url}/redirects`,
      description: 'Workflow Redirect actions: <RedirectBaseUrl>/<step>, e.g. /time_chosen',
    });
    new CfnOutput(this, 'LinksBaseUrl', {
      value: `${http.url}/links`,
      description: 'Links to send recipients: <LinksBaseUrl>/<name of cronofy.publicLinks>',
    });
    new CfnOutput(this, 'OAuthCallbackUrl', {
      value: `${http.url}/oauth/cronofy/callback`,
      description: "Organization Connect's redirect_uri: register it with your Cronofy application",
    });
    new CfnOutput(this, 'TenantsTableName', {
      value: tenantsTable.tableName,
      description: 'Tenants and their encrypted credentials (npm run ops -- tenant list --stage <stage>)',
    });
    new CfnOutput(this, 'TenantsKeyArn', {
      value: tenantsKey.keyArn,
      description: "KMS key tenants' credentials are encrypted with",
    });
    new CfnOutput(this, 'TableName', { value: table.tableName });
    new CfnOutput(this, 'TableStreamArn', {
      value: table.tableStreamArn ?? '',
      description: 'Stream (NEW_AND_OLD_IMAGES) downstream consumers read',
    });
    new CfnOutput(this, 'EventBusName', {
      value: downstream.bus.eventBusName,
      description: 'Downstream events (source cronofy.notifications): put your rules on this bus',
    });
    new CfnOutput(this, 'EventBusArn', { value: downstream.bus.eventBusArn });
    new CfnOutput(this, 'EventSchemaRegistryName', {
      value: downstream.registryName,
      description: 'JSON Schemas of the downstream events, one per detail-type',
    });
    new CfnOutput(this, 'EventsDeadLetterQueueUrl', {
      value: downstream.deadLetterQueue.queueUrl,
      description: 'Stream batches the events function gave up on (shard and sequence numbers)',
    });
    new CfnOutput(this, 'QueueUrl', { value: queue.queueUrl });
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: deadLetterQueue.queueUrl });
    new CfnOutput(this, 'SecretArn', {
      value: secret.secretArn,
      description: 'Put the Cronofy client secrets and Embed keys here (aws secretsmanager put-secret-value)',
    });
    new CfnOutput(this, 'AlarmTopicArn', {
      value: monitoring.topic.topicArn,
      description: 'Subscribe to receive alarms',
    });
    new CfnOutput(this, 'WorkerLogGroupName', {
      value: worker.logGroup.logGroupName,
      description: 'Worker logs: why a notification failed (npm run ops -- dlq peek reads it)',
    });
    new CfnOutput(this, 'ReconcileFunctionName', {
      value: reconcile.functionName,
      description: 'npm run ops -- reconcile --stage <stage> invokes it',
    });
    new CfnOutput(this, 'DashboardName', {
      value: monitoring.dashboard.dashboardName,
      description: 'CloudWatch dashboard following a notification from the API to the table',
    });
  }

  private createFunctions(logRetentionDays: number): Record<FunctionName, AppFunction> {
    const reserved: Partial<Record<FunctionName, number>> = {
      schedulingRequests: CRONOFY_CALLERS.schedulingRequests.reservedConcurrency,
      reconcile: CRONOFY_CALLERS.reconcile.reservedConcurrency,
    };
    const create = (name: FunctionName, id: string) =>
      new AppFunction(this, id, {
        reservedConcurrentExecutions: reserved[name],
        entry: join(PROJECT_ROOT, FUNCTIONS[name].entry),
        // The same name the function's logger writes as `service`.
        serviceName: name,
        memorySize: FUNCTIONS[name].memoryMb,
        timeout: Duration.seconds(FUNCTIONS[name].timeoutSeconds),
        systemLogLevel: FUNCTIONS[name].systemLogLevel,
        logRetentionDays,
      });
    return {
      ingest: create('ingest', 'Ingest'),
      worker: create('worker', 'Worker'),
      redirects: create('redirects', 'Redirects'),
      tokens: create('tokens', 'Tokens'),
      schedulingRequests: create('schedulingRequests', 'SchedulingRequests'),
      reconcile: create('reconcile', 'Reconcile'),
      events: create('events', 'Events'),
      tenants: create('tenants', 'Tenants'),
    };
  }

  private createSecret(existingArn: string | undefined): ISecret {
    if (existingArn) return Secret.fromSecretCompleteArn(this, 'Secret', existingArn);
    const secret = new Secret(this, 'Secret', {
      description:
        'Cronofy notifications: {"client_secrets":["CRN_…"],"embed_public_key":"EMB_…","embed_secret":"ESK_…"}',
      // A placeholder must not be a usable credential: with no client secret every notification is refused
      // (503, so Cronofy retries), and embed_secret is random, until the real values are put in.
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ client_secrets: [], embed_public_key: '' }),
        generateStringKey: 'embed_secret',
        excludePunctuation: true,
        passwordLength: 48,
      },
      // The values come from Cronofy and are not recreated by a deploy; keep them if the stack goes.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'The values are issued by Cronofy (client secret, Embed keys) and can only be rotated in the Cronofy ' +
        'dashboard; a rotation is a put-secret-value, picked up without a redeploy.',
    });
    return secret;
  }
}

/** Guard the queue settings AWS requires for an SQS event source that retries instead of losing messages. */
function assertQueueFitsWorker(): void {
  if (QUEUE.visibilityTimeoutSeconds < 6 * FUNCTIONS.worker.timeoutSeconds) {
    throw new Error('definitions.ts: QUEUE.visibilityTimeoutSeconds must be at least 6 × the worker timeout');
  }
  if (QUEUE.maxReceiveCount < 5) {
    throw new Error('definitions.ts: QUEUE.maxReceiveCount must be at least 5');
  }
}

/** What the redirect and link function needs of the configuration (shared/core/config.ts publicConfigSchema). */
function publicConfigJson(config: CronofyConfig): string {
  const json = JSON.stringify({
    dataCenter: config.dataCenter,
    redirects: config.redirects,
    publicLinks: config.publicLinks,
  });
  if (Buffer.byteLength(json) > MAX_PUBLIC_CONFIG_BYTES) {
    throw new Error(
      `cronofy.redirects and cronofy.publicLinks together take ${Buffer.byteLength(json)} bytes as JSON; ` +
        `a Lambda environment holds at most ${MAX_PUBLIC_CONFIG_BYTES} bytes for them`,
    );
  }
  return json;
}
