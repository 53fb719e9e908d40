import * as z from 'zod/mini';
import type { SecretsProvider } from '../core/ports.ts';
import {
  type CronofyOAuth,
  OAuthGrantRejectedError,
  type OAuthTokens,
  OAuthUnavailableError,
} from './oauth.ts';

/**
 * HTTP adapter of the CronofyOAuth port: `POST {api host}/oauth/token` and `/oauth/token/revoke` with the
 * application's client id and client secret (the first of the secret's client_secrets), a JSON body, a timeout
 * per attempt. The token host is the API host as Cronofy's docs and the node/php/python SDKs use it.
 *
 * Tolerant of Cronofy's answer: only `access_token` and `expires_in` are required (`refresh_token` is kept when
 * present); `sub` (the OU's id: UNCONFIRMED that Cronofy sends it) is kept when it is a string of 1 to 256
 * characters and ignored otherwise, never required; other fields are ignored. A `400` is a refused grant (Cronofy
 * documents `400` for token errors; its body shape is UNCONFIRMED, so `invalid_grant` is not required in it),
 * except RFC 6749's errors that blame the application (APPLICATION_ERRORS); anything else, 401 included, is
 * unavailable: never a reason to disconnect.
 */

const tokenAnswerSchema = z.looseObject({
  access_token: z.string().check(z.minLength(1)),
  refresh_token: z.optional(z.string().check(z.minLength(1))),
  expires_in: z.number().check(z.positive()),
});

/** The OU's id when the answer carries a usable one; anything else (absent, a number, an object) is no id. */
function subOf(answer: Record<string, unknown>): string | undefined {
  const sub = answer.sub;
  return typeof sub === 'string' && sub.length > 0 && sub.length <= 256 ? sub : undefined;
}

/**
 * RFC 6749 §5.2 errors that blame the application's own request or registration, never one tenant's grant: they
 * would come back for every tenant, so none of them may disconnect one.
 */
const APPLICATION_ERRORS = new Set([
  'invalid_client',
  'invalid_request',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
]);

function errorCode(text: string): string | undefined {
  try {
    const error = (JSON.parse(text) as { error?: unknown }).error;
    return typeof error === 'string' ? error : undefined;
  } catch {
    return undefined;
  }
}

export interface CronofyOAuthOptions {
  /** `https://api.cronofy.com` or local mode's fake. */
  baseUrl: string;
  clientId: string;
  /** The application's client secret is the first of the secret's client_secrets. */
  secrets: SecretsProvider;
  fetch?: typeof globalThis.fetch;
  timeoutMs?: number;
  /** Attempts of a revoke (a best effort: its failure is reported, never fatal). */
  revokeAttempts?: number;
  sleep?: (ms: number) => Promise<void>;
}

export function makeCronofyOAuth(options: CronofyOAuthOptions): CronofyOAuth {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const sleep = options.sleep ?? ((ms: number) => new Promise((resolve) => setTimeout(resolve, ms)));

  async function post(
    path: string,
    fields: Record<string, string>,
  ): Promise<{ status: number; text: string }> {
    const secrets = await options.secrets.get();
    const clientSecret = secrets.clientSecrets[0];
    if (!clientSecret) throw new OAuthUnavailableError('no client secret configured');
    let response: Response;
    try {
      response = await fetchImpl(`${options.baseUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8', accept: 'application/json' },
        body: JSON.stringify({ client_id: options.clientId, client_secret: clientSecret, ...fields }),
        signal: AbortSignal.timeout(timeoutMs),
        redirect: 'error',
      });
      return { status: response.status, text: await response.text() };
    } catch (error) {
      throw new OAuthUnavailableError((error as Error).name === 'TimeoutError' ? 'timeout' : 'network');
    }
  }

  async function token(fields: Record<string, string>): Promise<OAuthTokens> {
    const { status, text } = await post('/oauth/token', fields);
    // Only a 400 that is not about the application itself refuses the grant: a wrong client secret (401, or 400
    // invalid_client) or a request Cronofy does not accept from this application must never disconnect every
    // tenant at once. A 400 without a readable error code still refuses (Cronofy's error body is UNCONFIRMED).
    if (status === 400 && !APPLICATION_ERRORS.has(errorCode(text) ?? ''))
      throw new OAuthGrantRejectedError(status);
    if (status !== 200) throw new OAuthUnavailableError(`status ${status}`);
    let parsed: z.infer<typeof tokenAnswerSchema>;
    try {
      parsed = tokenAnswerSchema.parse(JSON.parse(text));
    } catch {
      throw new OAuthUnavailableError('unusable answer');
    }
    const sub = subOf(parsed);
    return {
      accessToken: parsed.access_token,
      ...(parsed.refresh_token ? { refreshToken: parsed.refresh_token } : {}),
      expiresIn: parsed.expires_in,
      ...(sub === undefined ? {} : { sub }),
    };
  }

  return {
    exchangeCode: (code, redirectUri) =>
      token({ grant_type: 'authorization_code', code, redirect_uri: redirectUri }),
    refresh: (refreshToken) => token({ grant_type: 'refresh_token', refresh_token: refreshToken }),
    async revoke(value) {
      const attempts = options.revokeAttempts ?? 3;
      let last: Error = new OAuthUnavailableError('not attempted');
      for (let attempt = 1; attempt <= attempts; attempt++) {
        try {
          const { status } = await post('/oauth/token/revoke', { token: value });
          if (status >= 200 && status < 300) return;
          // A token Cronofy no longer knows (400) is as good as revoked.
          if (status === 400) return;
          last = new OAuthUnavailableError(`status ${status}`);
          // The application's credential refused: retrying cannot help.
          if (status === 401 || status === 403) break;
        } catch (error) {
          last = error as Error;
        }
        if (attempt < attempts) await sleep(200 * 2 ** (attempt - 1));
      }
      throw last;
    },
  };
}
