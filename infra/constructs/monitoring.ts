import { Duration, Stack } from 'aws-cdk-lib';
import type { IHttpStage } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  type IMetric,
  MathExpression,
  Metric,
  type MetricOptions,
  Stats,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { type ITableV2, Operation } from 'aws-cdk-lib/aws-dynamodb';
import { Effect, PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { FilterPattern, MetricFilter } from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { LOG_EVENTS, type LogEvent } from '#shared/core/log-events.ts';
import type { AppFunction } from './app-function.ts';

/** Alarm subscribers and thresholds. Every alarm looks at one 5-minute period unless said otherwise. */
export interface MonitoringProps {
  /**
   * Email addresses subscribed to the alarm topic (each must confirm the subscription AWS sends).
   * @default - none; subscribe anything to the `AlarmTopicArn` output later
   */
  readonly alarmEmails?: readonly string[];
  /**
   * Messages in the dead-letter queue that raise the alarm. Every one is a notification that was not applied.
   * @default 1
   */
  readonly deadLetterMessages?: number;
  /**
   * Age of the oldest message on the queue that raises the alarm. A healthy worker empties it in seconds; a
   * message that keeps failing comes back every visibility timeout (3 minutes).
   * @default Duration.minutes(10)
   */
  readonly oldestMessageAge?: Duration;
  /**
   * API Gateway 5xx responses in 5 minutes: ingest answers 503 when the queue or the secret is out of
   * reach (Cronofy retries, but nothing is being accepted), and any function error surfaces as a 500.
   * @default 5
   */
  readonly serverErrors?: number;
  /**
   * Notifications refused for their signature in 5 minutes. A few are scanners; a burst usually means a
   * rotated Cronofy client secret that is not in the secret yet, and then every real notification is refused.
   * @default 20
   */
  readonly signatureRejections?: number;
  /**
   * Worker invocation errors in 5 minutes (failed messages are reported per item and retried; an error here
   * means a whole batch failed).
   * @default 1
   */
  readonly workerErrors?: number;
  /**
   * Worker throttles in 5 minutes: the account's concurrency ran out, since the event source caps the worker.
   * @default 1
   */
  readonly workerThrottles?: number;
  /**
   * Throttled PutItem/UpdateItem requests on the table in 5 minutes (on-demand tables throttle only on
   * sudden traffic far above their previous peak, or at the account's table limits).
   * @default 1
   */
  readonly tableThrottles?: number;
  /**
   * Cronofy calls refused for the credential in 5 minutes (401/403): every create, cancel and reconciliation
   * fails until `api_credential` in the secret is fixed.
   * @default 1
   */
  readonly cronofyCredentialRejections?: number;
  /**
   * Cronofy calls that stayed rate limited (429, or no slot of this instance's share) beyond the retry budget.
   * @default 5
   */
  readonly cronofyRateLimited?: number;
  /**
   * Cronofy calls that failed otherwise beyond the retry budget (unreachable, timeouts, 5xx, answers this
   * service cannot use).
   * @default 5
   */
  readonly cronofyErrors?: number;
  /**
   * Records reconciliation changed in one evaluation period. Every change is a notification Cronofy did not
   * deliver (it gives up after 10 failures) or has not delivered yet.
   * @default 1
   */
  readonly reconciliationChanges?: number;
  /**
   * Notifications kept as `rejected` (tenant_mismatch) in one evaluation period. One is already a tenant's own
   * secret signing for a record that is not that tenant's.
   * @default 1
   */
  readonly tenantMismatches?: number;
  /**
   * Stream batches the events function gave up on (in its dead-letter queue): downstream events not published.
   * @default 1
   */
  readonly eventsDeadLetterMessages?: number;
  /**
   * Age of the newest stream record the events function has read: how late downstream events are.
   * @default Duration.minutes(5)
   */
  readonly eventsDelay?: Duration;
  /**
   * Tenants Cronofy disconnected in 5 minutes (it refused their refresh token: the customer removed the
   * application or the authorization lapsed). Each one needs onboarding again before calls for it work.
   * @default 1
   */
  readonly tenantDisconnections?: number;
}

export interface MonitoringResources {
  readonly apiStage: IHttpStage;
  readonly ingest: AppFunction;
  readonly worker: AppFunction;
  readonly queue: IQueue;
  readonly deadLetterQueue: IQueue;
  readonly table: ITableV2;
  readonly schedulingRequests: AppFunction;
  readonly reconcile: AppFunction;
  /** 0: no schedule (the reconciliation alarms still see manual runs). */
  readonly reconcileIntervalMinutes: number;
  /**
   * Namespace of the stage's custom metrics: those derived from the ingest logs and those the worker
   * writes (its METRICS_NAMESPACE). Unique per stage: a metric filter cannot add a
   * fixed dimension, and a shared namespace would let one stage's traffic raise another stage's alarms.
   */
  readonly logMetricsNamespace: string;
  /** The function that puts downstream events on the bus, and its stream event source's dead-letter queue. */
  readonly events: AppFunction;
  readonly eventsDeadLetterQueue: IQueue;
}

const PERIOD = Duration.minutes(5);

/** Written (EMF, no dimensions) by the functions whose credential provider saw Cronofy refuse a refresh. */
export const TENANT_DISCONNECTIONS_METRIC = 'TenantDisconnections';

/**
 * Alarms on what loses or delays notifications, sent to one SNS topic, and a dashboard that follows a
 * notification from the API to the table.
 */
export class Monitoring extends Construct {
  readonly topic: Topic;
  /** The customer managed key the alarm topic is encrypted with. */
  readonly topicKey: Key;
  readonly dashboard: Dashboard;
  readonly alarms: Alarm[] = [];

  constructor(scope: Construct, id: string, props: MonitoringProps & MonitoringResources) {
    super(scope, id);
    const { apiStage, ingest, worker, queue, deadLetterQueue, table } = props;

    const stack = Stack.of(this);
    // Encrypted at rest with a customer managed key: CloudWatch alarms cannot publish to a topic encrypted with
    // the AWS managed key (alias/aws/sns), whose policy cannot be changed to let them use it.
    this.topicKey = new Key(this, 'AlarmTopicKey', {
      description: `${stack.stackName}: encrypts the alarm topic`,
      enableKeyRotation: true,
    });
    this.topicKey.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowCloudWatchAlarmsToPublishToTheEncryptedTopic',
        effect: Effect.ALLOW,
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    this.topic = new Topic(this, 'AlarmTopic', {
      displayName: `${stack.stackName} alarms`,
      enforceSSL: true,
      masterKey: this.topicKey,
    });
    // The topic policy replaces SNS's default one: say who may publish, and only from this account's alarms.
    this.topic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowThisAccountsCloudWatchAlarmsToPublish',
        effect: Effect.ALLOW,
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: {
            'aws:SourceArn': `arn:${stack.partition}:cloudwatch:${stack.region}:${stack.account}:alarm:*`,
          },
        },
      }),
    );
    for (const email of props.alarmEmails ?? []) this.topic.addSubscription(new EmailSubscription(email));

    const fromIngestLogs = (metricName: string, message: LogEvent): Metric => {
      const filter = new MetricFilter(this, metricName, {
        logGroup: ingest.logGroup,
        // The ingest logger writes one JSON object per line with a fixed `message` per outcome (shared/core/log-events.ts).
        filterPattern: FilterPattern.stringValue('$.message', '=', message),
        metricNamespace: props.logMetricsNamespace,
        metricName,
        metricValue: '1',
      });
      return filter.metric({ statistic: Stats.SUM, period: PERIOD });
    };
    // Every 202 is exactly one SendMessage: SQS counts them, so no log line is needed (or paid for) per request.
    const accepted = props.queue.metricNumberOfMessagesSent({
      statistic: Stats.SUM,
      period: PERIOD,
      label: 'accepted (enqueued)',
    });
    const rejectedSignature = fromIngestLogs(
      'NotificationsRejectedSignature',
      LOG_EVENTS.notificationRejectedSignature,
    );
    const rejectedTooLarge = fromIngestLogs(
      'NotificationsRejectedTooLarge',
      LOG_EVENTS.notificationRejectedTooLarge,
    );

    const sum: MetricOptions = { statistic: Stats.SUM, period: PERIOD };
    const max: MetricOptions = { statistic: Stats.MAXIMUM, period: PERIOD };
    // No labels on alarmed metrics: a label turns an alarm into a metric-math alarm, harder to read in the console.
    const serverErrors = apiStage.metricServerError(sum);
    const queueAge = queue.metricApproximateAgeOfOldestMessage(max);
    const deadLetters = deadLetterQueue.metricApproximateNumberOfMessagesVisible(max);
    const tableThrottles = table.metricThrottledRequestsForOperations({
      operations: [Operation.PUT_ITEM, Operation.UPDATE_ITEM, Operation.BATCH_EXECUTE_STATEMENT],
      ...sum,
    });

    this.alarm(
      'DeadLetterQueueNotEmpty',
      deadLetters,
      props.deadLetterMessages ?? 1,
      'A notification failed every retry and waits in the dead-letter queue (see README: redrive).',
    );
    this.alarm(
      'QueueOldestMessageAge',
      queueAge,
      (props.oldestMessageAge ?? Duration.minutes(10)).toSeconds(),
      'Notifications wait on the queue: the worker is failing or falling behind.',
    );
    this.alarm(
      'ApiServerErrors',
      serverErrors,
      props.serverErrors ?? 5,
      'The API answers 5xx: for Cronofy notifications, the queue or the secret is out of reach.',
    );
    this.alarm(
      'SignatureRejections',
      rejectedSignature,
      props.signatureRejections ?? 20,
      'Many notifications fail signature checks: is a new Cronofy client secret missing from the secret?',
    );
    this.alarm(
      'WorkerErrors',
      worker.function.metricErrors(sum),
      props.workerErrors ?? 1,
      'The worker failed whole batches.',
    );
    this.alarm(
      'WorkerThrottles',
      worker.function.metricThrottles(sum),
      props.workerThrottles ?? 1,
      'The worker was throttled: account concurrency is exhausted.',
    );
    this.alarm(
      'TableThrottles',
      tableThrottles,
      props.tableThrottles ?? 1,
      'DynamoDB throttled writes to the records table.',
    );

    // Cronofy's API, as the create/cancel and reconciliation functions report it (EMF, shared/core/metrics.ts).
    const stageMetric = (metricName: string, options: MetricOptions = sum) =>
      new Metric({ namespace: props.logMetricsNamespace, metricName, ...options });
    const credentialRejected = stageMetric('CronofyCredentialRejected');
    const rateLimited = stageMetric('CronofyRateLimited');
    const cronofyFailures = new MathExpression({
      expression: 'FILL(unavailable, 0) + FILL(errors, 0)',
      usingMetrics: { unavailable: stageMetric('CronofyUnavailable'), errors: stageMetric('CronofyErrors') },
      period: PERIOD,
      label: 'Cronofy unavailable or unusable',
    });
    const reconciliationChanges = stageMetric('ReconciliationChanges');
    // A run every N minutes: the period must hold one, or the alarm would flap between data and none.
    const reconcilePeriod = Duration.minutes(Math.max(5, props.reconcileIntervalMinutes));
    this.alarm(
      'CronofyCredentialRejected',
      credentialRejected,
      props.cronofyCredentialRejections ?? 1,
      'Cronofy rejects the API credential: creating, cancelling and reconciling scheduling requests all fail. Put a valid api_credential in the secret.',
    );
    this.alarm(
      'CronofyRateLimited',
      rateLimited,
      props.cronofyRateLimited ?? 5,
      "Calls to Cronofy stayed rate limited beyond the retry budget (callers got 503): more traffic than this deployment's share of Cronofy's limits.",
    );
    this.alarm(
      'CronofyErrors',
      cronofyFailures,
      props.cronofyErrors ?? 5,
      'Calls to Cronofy fail (unreachable, timeouts, 5xx or unusable answers) beyond the retry budget.',
    );
    // The worker counts (EMF, shared/core/metrics.ts) and logs (LOG_EVENTS.notificationTenantMismatch) each one.
    this.alarm(
      'TenantMismatches',
      stageMetric('TenantMismatches'),
      props.tenantMismatches ?? 1,
      "A notification signed only by a tenant's own client secret would have changed a record of another tenant (or one with no tenant): kept as rejected, nothing applied. A misrouted subscription, or a tenant forging notifications: see the worker's 'notification rejected: tenant mismatch' lines.",
    );
    this.alarm(
      'ReconciliationChanges',
      stageMetric('ReconciliationChanges', { statistic: Stats.SUM, period: reconcilePeriod }),
      props.reconciliationChanges ?? 1,
      'Reconciliation changed scheduling request records: Cronofy notifications were missed (see the reconcile logs for the ids).',
    );
    this.alarm(
      'ReconciliationFailures',
      stageMetric('ReconciliationFailures', { statistic: Stats.SUM, period: reconcilePeriod }),
      1,
      'Reconciliation could not check some open scheduling requests (Cronofy or DynamoDB failed); the next run tries again.',
    );
    this.alarm(
      'TenantDisconnections',
      stageMetric(TENANT_DISCONNECTIONS_METRIC),
      props.tenantDisconnections ?? 1,
      'Cronofy refused the refresh token of a tenant, which is now disconnected: its calls answer 409 tenant_disconnected until it onboards again (see the logs for the tenant id; GET /tenants/{tenant_id}).',
    );
    this.alarm(
      'SchedulingFunctionErrors',
      new MathExpression({
        expression: 'FILL(api, 0) + FILL(reconcile, 0)',
        usingMetrics: {
          api: props.schedulingRequests.function.metricErrors(sum),
          reconcile: props.reconcile.function.metricErrors(sum),
        },
        period: PERIOD,
        label: 'Errors of the scheduling-requests and reconcile functions',
      }),
      1,
      'The scheduling-requests or reconcile function failed (crash, timeout): see their logs.',
    );

    // Downstream events: the stream function behind (IteratorAge), or batches given up on.
    const eventsDelay = props.events.function.metric('IteratorAge', max);
    const eventsDeadLetters = props.eventsDeadLetterQueue.metricApproximateNumberOfMessagesVisible(max);
    this.alarm(
      'EventsDeadLetterQueueNotEmpty',
      eventsDeadLetters,
      props.eventsDeadLetterMessages ?? 1,
      'The events function gave up on stream records: downstream events were not published (infra/README.md: events dead letters).',
    );
    this.alarm(
      'EventsDelayed',
      eventsDelay,
      (props.eventsDelay ?? Duration.minutes(5)).toMilliseconds(),
      'Downstream events lag behind the table: the events function is failing (retrying a batch) or throttled.',
    );

    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: stack.stackName,
      defaultInterval: Duration.days(1),
    });
    const fn = worker.function;
    const custom = (metricName: string, options: MetricOptions = sum) =>
      // The worker writes these (Embedded Metric Format, into the stage's namespace: its METRICS_NAMESPACE)
      // with no dimensions (totals) as well as by `type`; the totals are graphed.
      new Metric({ namespace: props.logMetricsNamespace, metricName, label: metricName, ...options });
    const graph = (title: string, left: IMetric[], right: IMetric[] = [], width = 8) =>
      new GraphWidget({ title, left, right, width, height: 6 });

    this.dashboard.addWidgets(
      new TextWidget({
        markdown:
          '**Cronofy → API → ingest → queue → worker → table.** Notifications are accepted (202) once queued; ' +
          'the worker applies them. Rejections, queue age and dead letters are where to look first.',
        width: 24,
        height: 2,
      }),
      new AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24, height: 3 }),
    );
    this.dashboard.addWidgets(
      graph(
        'Notifications: accepted vs rejected',
        [accepted, rejectedSignature, rejectedTooLarge],
        [serverErrors],
      ),
      graph(
        'API requests',
        [
          apiStage.metricCount({ ...sum, label: 'Requests' }),
          apiStage.metricClientError({ ...sum, label: '4xx' }),
          serverErrors,
        ],
        [apiStage.metricLatency({ statistic: Stats.p(99), period: PERIOD, label: 'Latency p99 (ms)' })],
      ),
      graph('Ingest duration (ms)', [
        ingest.function.metricDuration({ statistic: Stats.p(50), period: PERIOD, label: 'p50' }),
        ingest.function.metricDuration({ statistic: Stats.p(99), period: PERIOD, label: 'p99' }),
      ]),
    );
    this.dashboard.addWidgets(
      graph('Queue depth', [
        queue.metricApproximateNumberOfMessagesVisible({ ...max, label: 'Waiting' }),
        queue.metricApproximateNumberOfMessagesNotVisible({ ...max, label: 'In flight' }),
      ]),
      graph('Queue: age of oldest message (s)', [queueAge]),
      graph('Dead-letter queue depth', [deadLetters]),
    );
    this.dashboard.addWidgets(
      graph('Worker duration (ms)', [
        fn.metricDuration({ statistic: Stats.p(50), period: PERIOD, label: 'p50' }),
        fn.metricDuration({ statistic: Stats.p(99), period: PERIOD, label: 'p99' }),
        fn.metricDuration({ ...max, label: 'max' }),
      ]),
      graph('Worker invocations, errors, throttles', [
        fn.metricInvocations({ ...sum, label: 'Invocations' }),
        fn.metricErrors({ ...sum, label: 'Errors' }),
        fn.metricThrottles({ ...sum, label: 'Throttles' }),
      ]),
      graph(
        'DynamoDB writes',
        [table.metricConsumedWriteCapacityUnits({ ...sum, label: 'Consumed write units' })],
        [tableThrottles, table.metricUserErrors({ ...sum, label: 'User errors (account-wide)' })],
      ),
    );
    this.dashboard.addWidgets(
      graph(
        'Notifications applied by the worker',
        [
          custom('NotificationsApplied'),
          custom('NotificationsDuplicate'),
          custom('NotificationsStale'),
          custom('NotificationsUnparseable'),
          custom('NotificationsUnknownType'),
          custom('TenantMismatches'),
        ],
        [],
        12,
      ),
      graph(
        'Event Trigger delay after target time (s)',
        [
          custom('EventTriggerDelaySeconds', { statistic: Stats.AVERAGE, period: PERIOD }),
          custom('EventTriggerDelaySeconds', { statistic: Stats.p(99), period: PERIOD, label: 'p99' }),
          custom('EventTriggerDelaySeconds', { ...max, label: 'max' }),
        ],
        [],
        12,
      ),
    );
    this.dashboard.addWidgets(
      graph(
        "Cronofy's API: failures beyond the retry budget",
        [credentialRejected, rateLimited, cronofyFailures, stageMetric('CronofyRejected')],
        [],
      ),
      graph(
        'Scheduling requests (API)',
        [stageMetric('SchedulingRequestsCreated'), stageMetric('SchedulingRequestsCancelled')],
        [
          props.schedulingRequests.function.metricDuration({
            statistic: Stats.p(99),
            period: PERIOD,
            label: 'Duration p99 (ms)',
          }),
        ],
      ),
      graph(
        'Reconciliation (a change is a missed notification)',
        [reconciliationChanges, stageMetric('ReconciliationFailures')],
        [stageMetric('ReconciliationChecked'), stageMetric('ReconciliationCronofyCalls')],
      ),
    );
    // Tenants (an integrator's customers): how many are in each state (gauges the reconcile function writes after
    // each run), their token refreshes, disconnections and rejected notifications; then the requests for a
    // tenant that cannot be called for, by its state (not alarmed: offboarding or onboarding explains them).
    const tenantState = (metricName: string, label: string) => stageMetric(metricName, { ...sum, label });
    const tenantLevel = (metricName: string, label: string) =>
      stageMetric(metricName, { statistic: 'Maximum', period: Duration.hours(1), label });
    this.dashboard.addWidgets(
      graph(
        'Tenants per state (at each reconciliation run)',
        [
          tenantLevel('TenantsConnected', 'Connected'),
          tenantLevel('TenantsDisconnected', 'Disconnected'),
          tenantLevel('TenantsRegistered', 'Registered, not connected'),
        ],
        undefined,
        12,
      ),
      graph(
        'Tenants: token refreshes, disconnections, rejected notifications',
        [
          tenantState('TokenRefreshes', 'Token refreshes'),
          tenantState(TENANT_DISCONNECTIONS_METRIC, 'Disconnected by Cronofy'),
          tenantState('TenantMismatches', 'Rejected (tenant_mismatch)'),
        ],
        undefined,
        12,
      ),
    );
    this.dashboard.addWidgets(
      graph(
        'Tenants: reconciliation skips per tenant state',
        [
          tenantState('ReconciliationSkippedTenantsDisconnected', 'Disconnected tenants'),
          tenantState('ReconciliationSkippedTenantsNotConnected', 'Not connected tenants'),
          tenantState('ReconciliationSkippedUnknownTenants', 'Unknown tenants'),
        ],
        [tenantState('ReconciliationSkippedRequests', 'Requests skipped')],
        12,
      ),
      graph(
        'Tenants: scheduling requests refused per tenant state, and tokens Cronofy refused',
        [
          tenantState('SchedulingRequestsTenantDisconnected', 'Disconnected (409)'),
          tenantState('SchedulingRequestsTenantNotConnected', 'Not connected (409)'),
          tenantState('SchedulingRequestsUnknownTenant', 'Unknown (404)'),
        ],
        [tenantState('TenantCredentialRejected', "Tenant's token refused by Cronofy")],
        12,
      ),
    );
    this.dashboard.addWidgets(
      graph('Downstream events: delay (ms)', [eventsDelay]),
      graph('Events function', [
        props.events.function.metricInvocations({ ...sum, label: 'Invocations' }),
        props.events.function.metricErrors({ ...sum, label: 'Errors' }),
      ]),
      graph('Events dead-letter queue depth', [eventsDeadLetters]),
    );
  }

  private alarm(id: string, metric: IMetric, threshold: number, description: string): void {
    const alarm = new Alarm(this, id, {
      metric,
      threshold,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      // No data means no traffic (or no failures), not a problem.
      treatMissingData: TreatMissingData.NOT_BREACHING,
      alarmDescription: description,
    });
    alarm.addAlarmAction(new SnsAction(this.topic));
    alarm.addOkAction(new SnsAction(this.topic));
    this.alarms.push(alarm);
  }
}
