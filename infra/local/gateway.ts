import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import type { Logger } from '#shared/core/ports.ts';
import { ROUTES, type RouteDefinition } from '../definitions.ts';
import { type HttpFunctionName, type HttpHandler, invokeWithTimeout } from './handlers.ts';

/**
 * Local stand-in for the API Gateway HTTP API: the routes of infra/definitions.ts, each request turned into
 * the payload format 2.0 event AWS would send, the function's structured result turned back into HTTP, and
 * API Gateway's own answers where it answers without calling a function (404, 403, 413, 500).
 */

/** API Gateway's request payload limit. The ingest function enforces its own, smaller one (README). */
export const MAX_REQUEST_BYTES = 10 * 1024 * 1024;
export const DEFAULT_API_TOKEN = 'local-development-token';
const LOCAL_ACCOUNT = '000000000000';

export interface GatewayOptions {
  port: number;
  handlers: Record<HttpFunctionName, HttpHandler>;
  /** The credential `auth: 'iam'` routes require locally: `Authorization: Bearer <apiToken>`. */
  apiToken: string;
  routes?: readonly RouteDefinition[];
  maxRequestBytes?: number;
  /** Errors only (a handler that throws); access lines go to `access`. Never bodies. */
  logger: Logger;
  access?: (line: string) => void;
  /**
   * Routes local mode answers itself, not a function (`GET /_local/events`), keyed by `<METHOD> <path>`. The
   * handler owns the response (it may stream it).
   */
  localRoutes?: Record<string, LocalRoute>;
  /** Host names answered besides this machine's own (`LOCAL_ALLOWED_HOSTS`: a tunnel's name). */
  allowedHosts?: readonly string[];
}

/** Answers the status it wrote (for the access line). */
export type LocalRoute = (req: IncomingMessage, res: ServerResponse, query: URLSearchParams) => number;

export interface Gateway {
  url: string;
  port: number;
  server: Server;
  stop(): Promise<void>;
}

interface CompiledRoute {
  route: RouteDefinition;
  pattern: RegExp;
  names: string[];
}

/** `{name}` matches one path segment, `{name+}` the rest of the path, as in API Gateway. */
function compile(route: RouteDefinition): CompiledRoute {
  const names: string[] = [];
  const source = route.path
    .split('/')
    .map((segment) => {
      const param = /^\{([A-Za-z0-9_]+)(\+?)\}$/.exec(segment);
      if (!param) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(param[1] ?? '');
      return param[2] ? '(.+)' : '([^/]+)';
    })
    .join('/');
  return { route, pattern: new RegExp(`^${source}$`), names };
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function match(routes: CompiledRoute[], method: string, path: string) {
  for (const compiled of routes) {
    if (compiled.route.method !== method) continue;
    const found = compiled.pattern.exec(path);
    if (!found) continue;
    const pathParameters = Object.fromEntries(
      compiled.names.map((name, i) => [name, safeDecode(found[i + 1] ?? '')]),
    );
    return { route: compiled.route, pathParameters };
  }
  return undefined;
}

/** Header names lowercased, repeated headers joined with ","; cookies moved to their own field (format 2.0). */
function collectHeaders(rawHeaders: string[]): { headers: Record<string, string>; cookies: string[] } {
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] ?? '').toLowerCase();
    const value = rawHeaders[i + 1] ?? '';
    if (name === 'cookie') {
      cookies.push(
        ...value
          .split(';')
          .map((cookie) => cookie.trim())
          .filter(Boolean),
      );
      continue;
    }
    headers[name] = name in headers ? `${headers[name]},${value}` : value;
  }
  return { headers, cookies };
}

function queryParameters(rawQueryString: string): Record<string, string> | undefined {
  if (rawQueryString === '') return undefined;
  const parameters: Record<string, string> = {};
  for (const pair of rawQueryString.split('&')) {
    if (pair === '') continue;
    const at = pair.indexOf('=');
    const name = safeDecode((at === -1 ? pair : pair.slice(0, at)).replace(/\+/g, ' '));
    const value = at === -1 ? '' : safeDecode(pair.slice(at + 1).replace(/\+/g, ' '));
    parameters[name] = name in parameters ? `${parameters[name]},${value}` : value;
  }
  return Object.keys(parameters).length > 0 ? parameters : undefined;
}

/** API Gateway's request time format: `12/Mar/2020:19:03:58 +0000`. */
function requestTime(date: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(date.getUTCDate())}/${months[date.getUTCMonth()]}/${date.getUTCFullYear()}:${pad(date.getUTCHours())}:${pad(
    date.getUTCMinutes(),
  )}:${pad(date.getUTCSeconds())} +0000`;
}

function traceId(now: Date): string {
  return `Root=1-${Math.floor(now.getTime() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`;
}

export interface RequestFacts {
  method: string;
  rawPath: string;
  rawQueryString: string;
  rawHeaders: string[];
  sourceIp: string;
  body: Buffer;
  route: RouteDefinition;
  pathParameters: Record<string, string>;
  requestId: string;
  now: Date;
  localPort: number;
}

/** The payload format 2.0 event for one request, shaped as API Gateway sends it. */
export function toEvent(facts: RequestFacts): APIGatewayProxyEventV2 {
  const { headers, cookies } = collectHeaders(facts.rawHeaders);
  headers['x-forwarded-for'] = headers['x-forwarded-for']
    ? `${headers['x-forwarded-for']}, ${facts.sourceIp}`
    : facts.sourceIp;
  headers['x-forwarded-port'] = String(facts.localPort);
  headers['x-forwarded-proto'] = 'http';
  headers['x-amzn-trace-id'] ??= traceId(facts.now);
  const domainName = headers.host ?? `127.0.0.1:${facts.localPort}`;
  const routeKey = `${facts.route.method} ${facts.route.path}`;
  const queryStringParameters = queryParameters(facts.rawQueryString);
  const hasBody = facts.body.byteLength > 0;
  const event: APIGatewayProxyEventV2 = {
    version: '2.0',
    routeKey,
    rawPath: facts.rawPath,
    rawQueryString: facts.rawQueryString,
    ...(cookies.length > 0 ? { cookies } : {}),
    headers,
    ...(queryStringParameters ? { queryStringParameters } : {}),
    ...(Object.keys(facts.pathParameters).length > 0 ? { pathParameters: facts.pathParameters } : {}),
    requestContext: {
      accountId: LOCAL_ACCOUNT,
      apiId: 'local',
      domainName,
      domainPrefix: domainName.split('.')[0] ?? domainName,
      http: {
        method: facts.method,
        path: facts.rawPath,
        protocol: 'HTTP/1.1',
        sourceIp: facts.sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: facts.requestId,
      routeKey,
      stage: '$default',
      time: requestTime(facts.now),
      timeEpoch: facts.now.getTime(),
      ...(facts.route.auth === 'iam'
        ? {
            // What the IAM authorizer adds for a signed caller; locally the caller is the documented token.
            authorizer: {
              iam: {
                accessKey: 'LOCALDEVELOPMENTKEY',
                accountId: LOCAL_ACCOUNT,
                callerId: 'local-development',
                cognitoIdentity: null,
                principalOrgId: null,
                userArn: `arn:aws:iam::${LOCAL_ACCOUNT}:user/local-development`,
                userId: 'local-development',
              },
            },
          }
        : {}),
    } as APIGatewayProxyEventV2['requestContext'],
    // Always base64 so every byte reaches the function exactly as sent (the signature is over those bytes).
    ...(hasBody ? { body: facts.body.toString('base64') } : {}),
    isBase64Encoded: hasBody,
  };
  return event;
}

interface HttpAnswer {
  statusCode: number;
  headers: Record<string, string>;
  cookies: string[];
  body: Buffer;
}

function apiGatewayMessage(statusCode: number, message: string): HttpAnswer {
  return {
    statusCode,
    headers: { 'content-type': 'application/json' },
    cookies: [],
    body: Buffer.from(JSON.stringify({ message })),
  };
}

const NOT_FOUND = () => apiGatewayMessage(404, 'Not Found');
const FORBIDDEN = () => apiGatewayMessage(403, 'Forbidden');
const TOO_LARGE = () => apiGatewayMessage(413, 'Request Entity Too Large');
const INTERNAL_ERROR = () => apiGatewayMessage(500, 'Internal Server Error');

/** How API Gateway reads a format 2.0 response, including the inferred form (no `statusCode`). */
export function fromResult(result: APIGatewayProxyResultV2): HttpAnswer {
  if (typeof result === 'string') {
    return {
      statusCode: 200,
      headers: { 'content-type': 'application/json' },
      cookies: [],
      body: Buffer.from(result),
    };
  }
  if (
    result === null ||
    typeof result !== 'object' ||
    !('statusCode' in result) ||
    result.statusCode === undefined
  ) {
    return {
      statusCode: 200,
      headers: { 'content-type': 'application/json' },
      cookies: [],
      body: Buffer.from(JSON.stringify(result ?? null)),
    };
  }
  const statusCode = Number(result.statusCode);
  if (!Number.isInteger(statusCode) || statusCode < 100 || statusCode > 599)
    throw new Error('invalid statusCode');
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {}))
    headers[name.toLowerCase()] = String(value);
  const text = result.body ?? '';
  return {
    statusCode,
    headers,
    cookies: result.cookies ?? [],
    body: result.isBase64Encoded ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8'),
  };
}

function write(res: ServerResponse, answer: HttpAnswer, requestId: string, close = false): void {
  const headers: Record<string, string | string[] | number> = {
    ...answer.headers,
    'apigw-requestid': requestId,
    'content-length': answer.body.byteLength,
  };
  if (answer.cookies.length > 0) headers['set-cookie'] = answer.cookies;
  if (close) headers.connection = 'close';
  res.writeHead(answer.statusCode, headers);
  res.end(answer.body);
}

const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '[::1]'];

/** The host name of a Host header, lowercased, without its port or a trailing dot. */
function hostName(header: string): string {
  const name = header.startsWith('[') ? header.slice(0, header.indexOf(']') + 1) : header.split(':')[0];
  return (name ?? '').toLowerCase().replace(/\.$/, '');
}

/**
 * Listening on loopback keeps the network out, but not a web page in the developer's browser whose name an
 * attacker points at 127.0.0.1 (DNS rebinding): to the browser that is the page's own origin, so it could read
 * `/_local/events` and call the bearer routes with the documented token. Only its Host header gives it away.
 * A request without one is no browser's.
 */
function hostAllowed(header: string | undefined, allowed: ReadonlySet<string>): boolean {
  return header === undefined || allowed.has(hostName(header));
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const presented = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1];
  if (!presented) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** API Gateway's request id looks like `JKJaXmPLvHcESHA=`. */
function newRequestId(): string {
  return randomBytes(10).toString('base64');
}

type BodyResult = { ok: true; body: Buffer } | { ok: false; reason: 'too_large' | 'aborted' };

/** Read the body, stopping (not buffering further) as soon as it passes the limit. */
function readBody(req: IncomingMessage, limit: number): Promise<BodyResult> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit)
    return Promise.resolve({ ok: false, reason: 'too_large' });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (result: BodyResult) => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > limit) {
        req.pause();
        settle({ ok: false, reason: 'too_large' });
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => settle({ ok: true, body: Buffer.concat(chunks, size) }));
    req.once('error', () => settle({ ok: false, reason: 'aborted' }));
    req.once('close', () =>
      settle(
        req.complete ? { ok: true, body: Buffer.concat(chunks, size) } : { ok: false, reason: 'aborted' },
      ),
    );
  });
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const routes = (options.routes ?? ROUTES).map(compile);
  const limit = options.maxRequestBytes ?? MAX_REQUEST_BYTES;
  const hosts = new Set([...LOOPBACK_HOSTS, ...(options.allowedHosts ?? []).map(hostName)]);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = Date.now();
    const requestId = newRequestId();
    const method = req.method ?? 'GET';
    const target = req.url ?? '/';
    const queryAt = target.indexOf('?');
    const rawPath = queryAt === -1 ? target : target.slice(0, queryAt);
    const rawQueryString = queryAt === -1 ? '' : target.slice(queryAt + 1);
    // Access lines carry method, path and status only: query strings and bodies may hold personal data.
    const done = (status: number) =>
      options.access?.(`${method} ${rawPath} ${status} ${Date.now() - started}ms`);

    if (!hostAllowed(req.headers.host, hosts)) {
      write(res, FORBIDDEN(), requestId, !req.complete);
      done(403);
      return;
    }
    const local = options.localRoutes?.[`${method} ${rawPath}`];
    if (local) {
      done(local(req, res, new URLSearchParams(rawQueryString)));
      return;
    }
    const matched = match(routes, method, rawPath);
    if (!matched) {
      write(res, NOT_FOUND(), requestId, !req.complete);
      done(404);
      return;
    }
    if (matched.route.auth === 'iam' && !tokenMatches(req.headers.authorization, options.apiToken)) {
      write(res, FORBIDDEN(), requestId, !req.complete);
      done(403);
      return;
    }
    const read = await readBody(req, limit);
    if (!read.ok) {
      if (read.reason === 'too_large') {
        // Answer and close: the rest of the body is never read.
        write(res, TOO_LARGE(), requestId, true);
        done(413);
      } else {
        res.destroy();
      }
      return;
    }

    const functionName = matched.route.function;
    if (functionName === 'worker' || functionName === 'reconcile' || functionName === 'events')
      throw new Error(`${functionName} is not an HTTP function`);
    const event = toEvent({
      method,
      rawPath,
      rawQueryString,
      rawHeaders: req.rawHeaders,
      sourceIp: (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, ''),
      body: read.body,
      route: matched.route,
      pathParameters: matched.pathParameters,
      requestId,
      now: new Date(started),
      localPort: (req.socket.localPort ?? 0) as number,
    });
    let answer: HttpAnswer;
    try {
      const result = await invokeWithTimeout(functionName, (context) =>
        options.handlers[functionName](event, context),
      );
      answer = fromResult(result);
    } catch (error) {
      options.logger.error('function failed', {
        function: functionName,
        requestId,
        error: error instanceof Error ? `${error.name}: ${error.message}` : 'non-error thrown',
      });
      answer = INTERNAL_ERROR();
    }
    write(res, answer, requestId);
    done(answer.statusCode);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      options.logger.error('gateway failed', { error: error instanceof Error ? error.message : 'unknown' });
      if (!res.headersSent) write(res, INTERNAL_ERROR(), newRequestId());
      else res.destroy();
    });
  });
  server.on('clientError', (_error, socket) => {
    if (socket.writable)
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // Loopback only: nothing of local mode is reachable from the network.
    server.listen(options.port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // Requests in flight get a moment to finish; a keep-alive connection must not hold the stop up.
        setTimeout(() => server.closeAllConnections(), 2000).unref();
      });
    },
  };
}
