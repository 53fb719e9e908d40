import {
  EventBridgeClient,
  PutEventsCommand,
  type PutEventsCommandOutput,
} from '@aws-sdk/client-eventbridge';
import type { BusEntry, EventPublisher } from '../core/ports.ts';

/**
 * PutEvents through the AWS SDK's EventBridge client: the one EventBridge call the stream function makes. The
 * SDK signs (SigV4) with the function role's credentials and retries throttling itself; an entry EventBridge
 * refuses comes back as its error code, so the caller can retry from it.
 */

export interface EventBridgePublisherOptions {
  busName: string;
  client: { send(command: PutEventsCommand): Promise<Pick<PutEventsCommandOutput, 'Entries'>> };
}

/** The client of the events function: a short timeout per attempt, so a stalled request fails the batch for a retry. */
export function eventBridgeClient(): EventBridgeClient {
  return new EventBridgeClient({ requestHandler: { requestTimeout: 5000, connectionTimeout: 2000 } });
}

export class EventBridgePublisher implements EventPublisher {
  constructor(private readonly options: EventBridgePublisherOptions) {}

  async put(entries: readonly BusEntry[]): Promise<Array<string | undefined>> {
    if (entries.length === 0) return [];
    let answer: Pick<PutEventsCommandOutput, 'Entries'>;
    try {
      answer = await this.options.client.send(
        new PutEventsCommand({
          Entries: entries.map((entry) => ({
            EventBusName: this.options.busName,
            Source: entry.source,
            DetailType: entry.detailType,
            Detail: entry.detail,
            Time: new Date(entry.time),
          })),
        }),
      );
    } catch (error) {
      // The error's name only, never its message: it can quote the request.
      throw new Error(`PutEvents failed (${(error as Error).name})`);
    }
    return entries.map((_, i) => {
      const result = answer.Entries?.[i];
      if (!result) return 'NoAnswer';
      return result.ErrorCode ?? (result.EventId ? undefined : 'NoEventId');
    });
  }
}
