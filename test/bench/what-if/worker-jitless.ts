import './zod-jitless.ts';

/** What-if entry: functions/worker/handler.ts with zod in jitless mode. */
export { handler } from '../../../functions/worker/handler.ts';
