import { randomBytes } from 'node:crypto';
import { signBody } from '#shared/notifications/signature.ts';
import { runWhenEntryPoint } from '../cli-entry.ts';
import { loadLocalConfig } from '../config.ts';
import { isConnectionRefused, LocalModeNotRunning, localEndpoints } from '../local-mode.ts';
import { commandPrefix } from './endpoints.ts';

/**
 * `npm run notify`: send the running local stack one Scheduler Workflow callback, signed the way Cronofy
 * signs (`Cronofy-HMAC-SHA256: Base64(HMAC-SHA256(body bytes, client secret))`) with the configured local
 * client secret, and print the answer. Then watch the `npm start` console for the stream lines.
 *
 *   npm run notify                       # a new scheduling request, time chosen now
 *   npm run notify -- srq_0123456789abcdef01234567
 *   PORT=3001 npm run notify             # the same PORT as npm start (or LOCAL_URL=http://…)
 */

export interface TimeChosenOptions {
  schedulingRequestId?: string;
  /** `notification.triggered_at`, one-second resolution as Cronofy sends it; now when omitted. */
  triggeredAt?: string;
  correlationId?: string;
}

/** A `scheduling_request_time_chosen` body shaped like Cronofy's (https://docs.cronofy.com/developers/scheduler/workflows/). */
export function timeChosenBody(options: TimeChosenOptions = {}): {
  body: string;
  schedulingRequestId: string;
} {
  const schedulingRequestId = options.schedulingRequestId ?? `srq_${randomBytes(12).toString('hex')}`;
  const triggeredAt = options.triggeredAt ?? `${new Date().toISOString().slice(0, 19)}Z`;
  const start = new Date(Date.now() + 7 * 86_400_000);
  start.setUTCHours(14, 0, 0, 0);
  const end = new Date(start.getTime() + 30 * 60_000);
  const at = (date: Date) => `${date.toISOString().slice(0, 19)}Z`;
  const shortId = schedulingRequestId.replace(/^srq_/, '');
  const body = {
    notification: { type: 'scheduling_request_time_chosen', triggered_at: triggeredAt },
    user: { tzid: 'Europe/Paris' },
    scheduling_request: {
      scheduling_request_id: schedulingRequestId,
      slot_selection: 'complete',
      primary_select_url: 'https://app.cronofy.com/rts/suDzyKHW',
      dashboard_url: `https://app.cronofy.com/scheduler/requests/${shortId}`,
      summary: 'Interview - Casey & Hiring team',
      duration: { minutes: 30 },
      recipient_operations: {
        view_url: 'https://app.cronofy.com/rts/suDzyKHW',
        decline_url: 'https://app.cronofy.com/rts/suDzyKHW?decline=true',
        reschedule_url: 'https://app.cronofy.com/rts/suDzyKHW?reschedule=true',
      },
      recipients: [{ email: 'casey@example.com', display_name: 'Casey Candidate', slot_selector: true }],
      event: {
        host: {
          email: 'hana@example.com',
          display_name: 'Hana Host',
          sub: 'acc_962bfe62001ed91c7e906242',
          status: 'accepted',
        },
        attendees: [
          { email: 'casey@example.com', display_name: 'Casey Candidate', status: 'accepted' },
          {
            email: 'pat@example.com',
            display_name: 'Pat Panel',
            sub: 'acc_7fad963a87459cefb4010b71',
            status: 'needs_action',
          },
        ],
        start: { time: at(start), tzid: 'Europe/London' },
        end: { time: at(end), tzid: 'Europe/London' },
        summary: 'Interview - Casey & Hiring team',
        metadata: {
          scheduler: {
            correlation_id: options.correlationId ?? `local-${shortId.slice(0, 8)}`,
            utm_source: 'ats',
            utm_medium: 'email',
            utm_campaign: 'interview_invitation',
            'captured_data.phone_number': '+44 20 7946 0000',
          },
        },
      },
    },
  };
  return { body: JSON.stringify(body), schedulingRequestId };
}

export interface SendResult {
  status: number;
  body: string;
}

/** POST a body to the notifications route, signed with `secret` as Cronofy would. */
export async function sendSignedNotification(
  baseUrl: string,
  body: string,
  secret: string,
): Promise<SendResult> {
  const response = await fetch(`${baseUrl}/cronofy/notifications`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'cronofy-hmac-sha256': signBody(body, secret),
      'user-agent': 'Cronofy (local test notification)',
    },
    body,
  });
  return { status: response.status, body: await response.text() };
}

async function main(): Promise<number> {
  const { secrets } = loadLocalConfig();
  const secret = secrets.clientSecrets[0];
  if (!secret) throw new Error('no client secret configured');
  const baseUrl = localEndpoints(process.env).gateway;
  const { body, schedulingRequestId } = timeChosenBody({ schedulingRequestId: process.argv[2] });
  console.log(`POST ${baseUrl}/cronofy/notifications`);
  console.log(
    `  type scheduling_request_time_chosen, scheduling_request_id ${schedulingRequestId}, ${Buffer.byteLength(body)} bytes`,
  );
  console.log('  signed with the first configured client secret (Cronofy-HMAC-SHA256)');
  let result: SendResult;
  try {
    result = await sendSignedNotification(baseUrl, body, secret);
  } catch (error) {
    console.error(
      isConnectionRefused(error)
        ? new LocalModeNotRunning('gateway', baseUrl).message
        : `Cannot reach ${baseUrl}: ${(error as Error).message}. Is \`npm start\` running (same PORT)?`,
    );
    return 1;
  }
  console.log(`→ ${result.status} ${result.body}`);
  if (result.status === 202) {
    const prefix = commandPrefix(process.env);
    console.log(
      `The npm start console shows the stream records: scheduling_request ${schedulingRequestId}, and its notification.`,
    );
    console.log(`See the record: ${prefix}npm run ops -- inspect ${schedulingRequestId}`);
    console.log(
      `The request exists only in this notification (the Cronofy fake never created it): \`${prefix}npm run ops -- reconcile\` ` +
        'reports it unknown to Cronofy. Requests made with POST /scheduling-requests are in the fake.',
    );
  }
  return result.status === 202 ? 0 : 1;
}

runWhenEntryPoint(import.meta.url, main, (error) => (error as Error).message);
