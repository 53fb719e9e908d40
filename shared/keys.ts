/**
 * Table key design and the contract's fixed names, in a module with no dependencies so every function can
 * import it without pulling in zod or the DynamoDB marshaller.
 */

/** The table's only key attribute: one string partition key per item, `<entity>#<id>`. */
export const PARTITION_KEY = 'pk';

/** The Scheduler Workflows metadata allow-list (seed: "Capturing metadata"). */
export const METADATA_KEYS = [
  'correlation_id',
  'utm_source',
  'utm_medium',
  'utm_campaign',
  'utm_term',
  'utm_content',
] as const;

/** Partition key of each item; downstream readers never need it, but tools do. */
export const keys = {
  schedulingRequest: (id: string) => `scheduling_request#${id}`,
  event: (id: string) => `event#${id}`,
  eventTrigger: (notificationId: string, index: number) => `event_trigger#${notificationId}#${index}`,
  notification: (notificationId: string) => `notification#${notificationId}`,
  redirect: (id: string) => `redirect#${id}`,
} as const;
