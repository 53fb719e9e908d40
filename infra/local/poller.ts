import { EventEmitter, setMaxListeners } from 'node:events';
import {
  DeleteMessageBatchCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type {
  SQSBatchResponse,
  SQSEvent,
  SQSMessageAttributes,
  SQSRecord,
  SQSRecordAttributes,
} from 'aws-lambda';
import type { Logger } from '#shared/core/ports.ts';
import { WORKER } from '../definitions.ts';
import { invokeWithTimeout, type WorkerHandler } from './handlers.ts';

/**
 * Feeds the worker the way Lambda's SQS event source mapping does (ReportBatchItemFailures on):
 *
 * - each poller long-polls ReceiveMessage for up to `batchSize` messages, then keeps gathering until the
 *   batch is full or the batching window has passed, and invokes the function once with an SQSEvent;
 * - on success it deletes every message except those named in `batchItemFailures`; a thrown error, a
 *   timeout or a malformed response fails the whole batch. Failed messages are not touched: they become
 *   visible again when their visibility timeout runs out, and their receive count goes up;
 * - the dead-letter queue is SQS's job: the emulator (fauxqs) applies the queue's RedrivePolicy on receive,
 *   moving a message once its receive count exceeds maxReceiveCount, as SQS does (checked by an e2e test);
 * - `concurrency` pollers run side by side, as the mapping's maximum concurrency bounds invocations.
 */

export interface WorkerFeedOptions {
  sqs: SQSClient;
  queueUrl: string;
  queueArn: string;
  region: string;
  handler: WorkerHandler;
  logger: Logger;
  concurrency: number;
  batchSize?: number;
  batchingWindowMs?: number;
  /** Overrides the queue's visibility timeout on every receive (tests: the real one is minutes). */
  visibilityTimeoutSeconds?: number;
  /** Long-poll wait per ReceiveMessage, as the event source mapping uses (20 s). */
  waitTimeSeconds?: number;
}

export interface BatchOutcome {
  size: number;
  /** Every message id of the batch, in the order of the event's Records. */
  messageIds: string[];
  /** Message ids left on the queue for redelivery. */
  failed: string[];
  /** Set when the whole batch failed (the function threw, timed out or answered malformed). */
  error?: string;
  durationMs: number;
}

export interface WorkerFeed extends EventEmitter<{ batch: [BatchOutcome] }> {
  stop(): Promise<void>;
}

const RECEIVE_ERROR_BACKOFF_MS = 1000;
const GATHER_PAUSE_MS = 50;

/** Sleep until `ms` pass or `signal` aborts; the abort listener is removed either way (no leak per pause). */
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** SQS API message attributes → the Lambda event's camel-cased form (binary as base64). */
function toLambdaAttributes(
  attributes: Record<string, MessageAttributeValue> | undefined,
): SQSMessageAttributes {
  const result: SQSMessageAttributes = {};
  for (const [name, value] of Object.entries(attributes ?? {})) {
    result[name] = {
      dataType: value.DataType ?? 'String',
      ...(value.StringValue === undefined ? {} : { stringValue: value.StringValue }),
      ...(value.BinaryValue === undefined
        ? {}
        : { binaryValue: Buffer.from(value.BinaryValue).toString('base64') }),
      stringListValues: value.StringListValues ?? [],
      binaryListValues: (value.BinaryListValues ?? []).map((item) => Buffer.from(item).toString('base64')),
    };
  }
  return result;
}

export function toSqsEvent(messages: Message[], queueArn: string, region: string): SQSEvent {
  return {
    Records: messages.map(
      (message): SQSRecord => ({
        messageId: message.MessageId ?? '',
        receiptHandle: message.ReceiptHandle ?? '',
        body: message.Body ?? '',
        attributes: (message.Attributes ?? {}) as unknown as SQSRecordAttributes,
        messageAttributes: toLambdaAttributes(message.MessageAttributes),
        md5OfBody: message.MD5OfBody ?? '',
        ...(message.MD5OfMessageAttributes ? { md5OfMessageAttributes: message.MD5OfMessageAttributes } : {}),
        eventSource: 'aws:sqs',
        eventSourceARN: queueArn,
        awsRegion: region,
      }),
    ),
  };
}

/**
 * The message ids to leave on the queue, as Lambda reads a partial batch response: no response or an empty
 * list means all succeeded; an identifier that is missing, empty or not in the batch fails the whole batch.
 */
export function failedMessageIds(
  response: unknown,
  batch: readonly string[],
): { failed: string[]; error?: string } {
  if (response === undefined || response === null) return { failed: [] };
  const failures = (response as Partial<SQSBatchResponse>).batchItemFailures;
  if (failures === undefined || failures === null) return { failed: [] };
  if (!Array.isArray(failures)) return { failed: [...batch], error: 'malformed batchItemFailures' };
  const ids = new Set<string>();
  for (const failure of failures) {
    const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || id === '' || !batch.includes(id)) {
      return { failed: [...batch], error: 'batchItemFailures names a message not in the batch' };
    }
    ids.add(id);
  }
  return { failed: [...ids] };
}

export function startWorkerFeed(options: WorkerFeedOptions): WorkerFeed {
  const batchSize = options.batchSize ?? WORKER.batchSize;
  const windowMs = options.batchingWindowMs ?? WORKER.maxBatchingWindowSeconds * 1000;
  const waitTimeSeconds = options.waitTimeSeconds ?? 20;
  if (options.visibilityTimeoutSeconds !== undefined && options.visibilityTimeoutSeconds * 1000 <= windowMs) {
    options.logger.warn(
      'visibility timeout not longer than the batching window: a message can reappear in its own batch',
      {
        visibilityTimeoutSeconds: options.visibilityTimeoutSeconds,
        batchingWindowMs: windowMs,
      },
    );
  }
  const stopping = new AbortController();
  // Every poller's pause listens to it: more than Node's default warning threshold of 10 with many pollers.
  setMaxListeners(0, stopping.signal);
  const emitter = new EventEmitter<{ batch: [BatchOutcome] }>();

  const receive = async (max: number, wait: number): Promise<Message[]> => {
    const result = await options.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: options.queueUrl,
        MaxNumberOfMessages: max,
        WaitTimeSeconds: wait,
        AttributeNames: ['All'],
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
        ...(options.visibilityTimeoutSeconds === undefined
          ? {}
          : { VisibilityTimeout: options.visibilityTimeoutSeconds }),
      }),
      { abortSignal: stopping.signal },
    );
    return result.Messages ?? [];
  };

  /** One batch: a long poll for the first messages, then gathering until full or the window closes. */
  const gather = async (): Promise<Message[]> => {
    const batch = await receive(batchSize, waitTimeSeconds);
    if (batch.length === 0) return batch;
    const deadline = Date.now() + windowMs;
    while (batch.length < batchSize && Date.now() < deadline && !stopping.signal.aborted) {
      let more: Message[];
      try {
        more = await receive(batchSize - batch.length, 0);
      } catch {
        break; // what was gathered is already in flight: invoke with it rather than let it time out
      }
      batch.push(...more);
      if (more.length === 0) await sleep(Math.min(GATHER_PAUSE_MS, deadline - Date.now()), stopping.signal);
    }
    return batch;
  };

  const deleteSucceeded = async (messages: Message[], failed: Set<string>): Promise<void> => {
    const succeeded = messages.filter((message) => !failed.has(message.MessageId ?? ''));
    for (let i = 0; i < succeeded.length; i += 10) {
      const chunk = succeeded.slice(i, i + 10);
      // Not aborted on stop: a processed batch must be deleted, or it would be delivered again.
      const result = await options.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: options.queueUrl,
          Entries: chunk.map((message, index) => ({
            Id: String(index),
            ReceiptHandle: message.ReceiptHandle,
          })),
        }),
      );
      for (const failure of result.Failed ?? []) {
        // As with Lambda, a message that cannot be deleted is simply delivered again; the worker is idempotent.
        options.logger.warn('processed message not deleted; it will be delivered again', {
          code: failure.Code,
        });
      }
    }
  };

  const invoke = async (messages: Message[]): Promise<void> => {
    const started = Date.now();
    const ids = messages.map((message) => message.MessageId ?? '');
    let outcome: { failed: string[]; error?: string };
    try {
      const event = toSqsEvent(messages, options.queueArn, options.region);
      const response = await invokeWithTimeout('worker', (context) => options.handler(event, context));
      outcome = failedMessageIds(response, ids);
    } catch (error) {
      outcome = {
        failed: ids,
        error: error instanceof Error ? `${error.name}: ${error.message}` : 'non-error thrown',
      };
    }
    if (outcome.error) {
      options.logger.error('worker batch failed; every message will be delivered again', {
        size: messages.length,
        error: outcome.error,
      });
    } else if (outcome.failed.length > 0) {
      options.logger.warn('partial batch failure; failed messages will be delivered again', {
        size: messages.length,
        failed: outcome.failed.length,
      });
    }
    try {
      await deleteSucceeded(messages, new Set(outcome.failed));
    } catch (error) {
      options.logger.warn('DeleteMessageBatch failed; the batch will be delivered again', {
        error: (error as Error).name,
      });
    }
    emitter.emit('batch', {
      size: messages.length,
      messageIds: ids,
      ...outcome,
      durationMs: Date.now() - started,
    });
  };

  const poll = async (): Promise<void> => {
    while (!stopping.signal.aborted) {
      let messages: Message[];
      try {
        messages = await gather();
      } catch (error) {
        if (stopping.signal.aborted) break;
        options.logger.warn('ReceiveMessage failed; retrying', { error: (error as Error).name });
        await sleep(RECEIVE_ERROR_BACKOFF_MS, stopping.signal);
        continue;
      }
      // Messages received just before stop are still processed: their batch is in flight.
      if (messages.length > 0) await invoke(messages);
    }
  };

  const pollers = Array.from({ length: Math.max(1, options.concurrency) }, () => poll());
  const running = Promise.all(pollers);

  return Object.assign(emitter, {
    async stop() {
      stopping.abort();
      await running;
    },
  });
}
