import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import * as z from 'zod/mini';
import { TOKEN_REQUEST_BODY_MAX_BYTES as MAX_BODY_BYTES } from '../contract/limits.ts';
import { isTenantId, TENANT_ID_RULE } from '../contract/tenants.ts';
import { InvalidRequestError } from '../core/errors.ts';
import type { IssuedToken } from '../core/outcomes.ts';
import type { Clock, Logger, Secrets, SecretsProvider } from '../core/ports.ts';
import { loadSecrets } from '../core/secrets.ts';
import { textField } from '../core/text-field.ts';

/**
 * Claim tokens (Public Links) and Embedded Scheduler tokens: HS256 JWTs signed with the Embed secret
 * (`ESK_…`), issued by the Embed public key (`EMB_…`). See https://docs.cronofy.com/developers/embedded-scheduler/ and
 * https://docs.cronofy.com/developers/scheduler/public-links/.
 */

/** Cronofy accepts at most 4 hours between `iat` and `exp`. */
export const MAX_TTL_SECONDS = 4 * 60 * 60;
export const DEFAULT_TTL_SECONDS = MAX_TTL_SECONDS;

export const TOKEN_AUDIENCES = { claim: 'public_link', embed: 'scheduler_embed' } as const;
export type TokenKind = keyof typeof TOKEN_AUDIENCES;

/** The JWT claims boundary: what every token we mint carries (tests verify tokens against it). */
export const tokenClaimsSchema = z
  .strictObject({
    iss: z.string().check(z.minLength(1)),
    aud: z.enum([TOKEN_AUDIENCES.claim, TOKEN_AUDIENCES.embed]),
    iat: z.int(),
    exp: z.int(),
    jti: z.uuid(),
    tenant_id: z.optional(z.string().check(z.minLength(1), z.maxLength(256))),
    /** Onboarding sign-up links: the default name of the Organizational Unit Cronofy creates for the tenant. */
    tenant_name: z.optional(z.string().check(z.minLength(1), z.maxLength(256))),
  })
  .check(
    z.refine((claims) => claims.exp > claims.iat && claims.exp - claims.iat <= MAX_TTL_SECONDS, {
      error: 'exp must be after iat and at most 4 hours later',
    }),
  );
export type TokenClaims = z.infer<typeof tokenClaimsSchema>;

export interface MintOptions {
  kind: TokenKind;
  /** 1 … 14400; default 14400 (4 hours). */
  ttlSeconds?: number;
  /** Embed tokens only. */
  tenantId?: string;
  /** Embed tokens only (onboarding sign-up links). */
  tenantName?: string;
}

export interface MintedToken extends IssuedToken {
  claims: TokenClaims;
}

export async function mintToken(
  secrets: Pick<Secrets, 'embedPublicKey' | 'embedSecret'>,
  options: MintOptions,
  clock: Clock,
  newId: () => string = randomUUID,
): Promise<MintedToken> {
  const ttl = options.ttlSeconds ?? DEFAULT_TTL_SECONDS;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS) {
    throw new RangeError(`ttlSeconds must be an integer in 1..${MAX_TTL_SECONDS}`);
  }
  // Floor, never round: Cronofy rejects an `iat` in the future, even by half a second.
  const iat = Math.floor(clock().getTime() / 1000);
  const claims: TokenClaims = {
    iss: secrets.embedPublicKey,
    aud: TOKEN_AUDIENCES[options.kind],
    iat,
    exp: iat + ttl,
    jti: newId(),
    ...(options.kind === 'embed' && options.tenantId !== undefined ? { tenant_id: options.tenantId } : {}),
    ...(options.kind === 'embed' && options.tenantName !== undefined
      ? { tenant_name: options.tenantName }
      : {}),
  };
  const { iss, aud, exp, jti, ...extra } = claims;
  const token = await new SignJWT(extra)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(iss)
    .setAudience(aud)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .setJti(jti)
    .sign(new TextEncoder().encode(secrets.embedSecret));
  return { token, claims, expiresAt: new Date(exp * 1000).toISOString().replace('.000Z', 'Z') };
}

// ---------------------------------------------------------------------------------------------------------
// POST /tokens/claim and POST /tokens/embed

const ttlRange = `ttl_seconds must be between 1 and ${MAX_TTL_SECONDS}`;
const ttlSeconds = z.number({ error: 'ttl_seconds must be a number of seconds' }).check(
  // One message per problem, checked in this order; the first issue is the one reported.
  z.refine(Number.isInteger, { error: 'ttl_seconds must be a whole number of seconds', abort: true }),
  z.minimum(1, { error: ttlRange }),
  z.maximum(MAX_TTL_SECONDS, { error: ttlRange }),
);

/** The callers are the integrator's own services: parse strictly, so a typo is an error, not a default. */
export const claimRequestSchema = z.strictObject(
  { ttl_seconds: z.optional(ttlSeconds) },
  { error: (issue) => bodyIssueMessage(issue.code, ['ttl_seconds']) },
);
export const embedRequestSchema = z.strictObject(
  {
    ttl_seconds: z.optional(ttlSeconds),
    // The contract's tenant id (the tenant routes' and scheduling requests' own): Cronofy keys the tenant's
    // Organizational Unit by it, so a value no tenant can be registered under is a 400, not a token.
    tenant_id: z.optional(
      textField('tenant_id', 64).check(
        z.refine(isTenantId, { error: `tenant_id must be ${TENANT_ID_RULE}` }),
      ),
    ),
  },
  { error: (issue) => bodyIssueMessage(issue.code, ['ttl_seconds', 'tenant_id']) },
);

function bodyIssueMessage(code: string, allowed: string[]): string {
  // Never echo the caller's field names back: say what is allowed instead.
  if (code === 'unrecognized_keys') return `unknown field; allowed fields: ${allowed.join(', ')}`;
  return 'body must be a JSON object';
}

export interface TokenRequest {
  kind: TokenKind;
  body: Uint8Array;
  /** Who signed the request (IAM ARN), for the audit log; never part of the token. */
  caller?: string;
}

export interface TokenDeps {
  secrets: SecretsProvider;
  clock: Clock;
  logger: Logger;
  newId?: () => string;
}

/** Parse an optional JSON body: empty (or whitespace) means defaults. Throws InvalidRequestError. */
export function parseTokenRequest(kind: TokenKind, body: Uint8Array): MintOptions {
  if (body.byteLength > MAX_BODY_BYTES)
    throw new InvalidRequestError(`body must be at most ${MAX_BODY_BYTES} bytes`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw new InvalidRequestError('body must be UTF-8 JSON');
  }
  let raw: unknown = {};
  if (text.trim() !== '') {
    try {
      raw = JSON.parse(text);
    } catch {
      throw new InvalidRequestError('body is not valid JSON');
    }
  }
  const schema = kind === 'claim' ? claimRequestSchema : embedRequestSchema;
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new InvalidRequestError(parsed.error.issues[0]?.message ?? 'invalid body');
  const data: { ttl_seconds?: number; tenant_id?: string } = parsed.data;
  return { kind, ttlSeconds: data.ttl_seconds, tenantId: data.tenant_id };
}

export async function issueToken(request: TokenRequest, deps: TokenDeps): Promise<IssuedToken> {
  const options = parseTokenRequest(request.kind, request.body);
  const secrets = await loadSecrets(deps, 'temporarily unable to mint tokens; retry later');
  const minted = await mintToken(secrets, options, deps.clock, deps.newId);
  // The jti identifies the token for audit; the token itself is a bearer credential and is never logged.
  deps.logger.info('token minted', {
    kind: request.kind,
    jti: minted.claims.jti,
    ttlSeconds: minted.claims.exp - minted.claims.iat,
    caller: request.caller,
  });
  return minted;
}
