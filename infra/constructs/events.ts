import { Duration, Stack, Validations } from 'aws-cdk-lib';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { CfnRegistry, CfnSchema } from 'aws-cdk-lib/aws-eventschemas';
import { FilterCriteria, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV } from '#shared/contract/env.ts';
import { DETAIL_TYPES, EVENT_SOURCE, eventJsonSchema } from '#shared/events/schemas.ts';
import { EVENTS } from '../definitions.ts';
import type { AppFunction } from './app-function.ts';

export interface DownstreamEventsProps {
  /** The records table, with its stream. */
  readonly table: ITableV2;
  /** The function that maps stream records to events and puts them on the bus (functions/events). */
  readonly publisher: AppFunction;
}

/**
 * Downstream events (shared/events/README.md): a custom event bus, the table's stream delivered to it in order
 * by the events function, a dead-letter queue for what it gives up on, and a schema registry with the JSON
 * Schema of every detail-type.
 */
export class DownstreamEvents extends Construct {
  readonly bus: EventBus;
  readonly deadLetterQueue: Queue;
  readonly registryName: string;

  constructor(scope: Construct, id: string, props: DownstreamEventsProps) {
    super(scope, id);
    const { table, publisher } = props;
    const stack = Stack.of(this);

    this.bus = new EventBus(this, 'Bus', {
      description: `${stack.stackName}: downstream events (source ${EVENT_SOURCE})`,
    });
    this.bus.grantPutEventsTo(publisher.function);
    publisher.addEnvironment(ENV.eventBusName, this.bus.eventBusName);

    // What a stream event source sends here on giving up is the batch's shard and sequence numbers, not the
    // records: the stream keeps them 24 hours.
    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        "It is a dead-letter queue: the stream event source's on-failure destination, which cdk-nag does not recognise as one.",
    });

    publisher.function.addEventSource(
      new DynamoEventSource(table, {
        startingPosition: StartingPosition.TRIM_HORIZON,
        batchSize: EVENTS.batchSize,
        maxBatchingWindow: Duration.seconds(EVENTS.maxBatchingWindowSeconds),
        // One batch per shard at a time: the order of a record's changes is the order of its events.
        parallelizationFactor: 1,
        reportBatchItemFailures: true,
        bisectBatchOnError: true,
        retryAttempts: EVENTS.retryAttempts,
        maxRecordAge: Duration.hours(EVENTS.maxRecordAgeHours),
        onFailure: new SqsDlq(this.deadLetterQueue),
        // Removals (TTL) and the records that never make an event do not even invoke the function.
        filters: [
          FilterCriteria.filter({
            eventName: ['INSERT', 'MODIFY'],
            dynamodb: { NewImage: { entity: { S: [...EVENTS.entities] } } },
          }),
        ],
      }),
    );

    const registry = new CfnRegistry(this, 'SchemaRegistry', {
      registryName: stack.stackName,
      description: `JSON Schemas of the ${EVENT_SOURCE} events on ${stack.stackName}'s bus`,
    });
    this.registryName = registry.attrRegistryName;
    for (const detailType of DETAIL_TYPES) {
      new CfnSchema(this, `Schema-${detailType}`, {
        registryName: registry.attrRegistryName,
        schemaName: `${EVENT_SOURCE}@${detailType}`,
        type: 'JSONSchemaDraft4',
        content: JSON.stringify(eventJsonSchema(detailType)),
        description: `${detailType} (shared/events/schemas/${detailType}.json)`,
      });
    }
  }
}
