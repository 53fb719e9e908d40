/** Table key design: one string partition key per item, `<entity>#<id>`. */

/** Partition key of each item; downstream readers never need it, but tools do. */
export const keys = {
  schedulingRequest: (id: string) => `scheduling_request#${id}`,
  event: (id: string) => `event#${id}`,
  eventTrigger: (notificationId: string, index: number) => `event_trigger#${notificationId}#${index}`,
  notification: (notificationId: string) => `notification#${notificationId}`,
  redirect: (id: string) => `redirect#${id}`,
} as const;
