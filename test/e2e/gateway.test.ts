import { request as httpRequest } from 'node:http';
import type { APIGatewayProxyEventV2, APIGatewayProxyResultV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '#shared/core/logger.ts';
import { type Gateway, startGateway } from '../../infra/local/gateway.ts';
import type { HttpHandler } from '../../infra/local/handlers.ts';

/**
 * The local API Gateway over real HTTP with recording functions: the payload format 2.0 event each function
 * receives, and how its result becomes the HTTP answer, as the HTTP API does both.
 */

const TOKEN = 'gateway-test-token';
const events: APIGatewayProxyEventV2[] = [];
let respond: (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyResultV2> = async () => ({
  statusCode: 204,
});

const recording: HttpHandler = (event) => {
  events.push(event);
  return respond(event);
};

/** Every function records its event and answers with `respond`. */
const RECORDING = {
  ingest: recording,
  redirects: recording,
  tokens: recording,
  schedulingRequests: recording,
  tenants: recording,
};

let gateway: Gateway;

beforeAll(async () => {
  gateway = await startGateway({
    port: 0,
    apiToken: TOKEN,
    logger: silentLogger,
    handlers: RECORDING,
  });
});

afterAll(async () => {
  await gateway?.stop();
});

function raw(
  method: string,
  path: string,
  headers: Record<string, string | string[] | number>,
  body?: Buffer,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: gateway.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('local API Gateway (HTTP API, payload format 2.0)', () => {
  it('sends the function the event API Gateway would', async () => {
    events.length = 0;
    respond = async () => ({ statusCode: 204 });
    const body = Buffer.from([0x7b, 0x22, 0xff, 0x00, 0x22, 0x7d]); // bytes that are not UTF-8

    await raw(
      'POST',
      '/cronofy/notifications?b=2&a=1&b=3&q=a%20b',
      {
        'X-Custom': ['one', 'two'],
        'Content-Type': 'application/json',
        'Content-Length': body.byteLength,
        Cookie: 'session=abc; theme=dark',
        'User-Agent': 'Cronofy-test',
      },
      body,
    );

    expect(events).toHaveLength(1);
    const event = events[0] as APIGatewayProxyEventV2;
    expect(event).toMatchObject({
      version: '2.0',
      routeKey: 'POST /cronofy/notifications',
      rawPath: '/cronofy/notifications',
      rawQueryString: 'b=2&a=1&b=3&q=a%20b',
      cookies: ['session=abc', 'theme=dark'],
      queryStringParameters: { a: '1', b: '2,3', q: 'a b' },
      isBase64Encoded: true,
      body: body.toString('base64'),
      requestContext: {
        routeKey: 'POST /cronofy/notifications',
        stage: '$default',
        http: {
          method: 'POST',
          path: '/cronofy/notifications',
          sourceIp: '127.0.0.1',
          userAgent: 'Cronofy-test',
        },
      },
    });
    expect(event.headers).toMatchObject({
      'x-custom': 'one,two',
      'content-type': 'application/json',
      'user-agent': 'Cronofy-test',
      'x-forwarded-for': '127.0.0.1',
    });
    expect(event.headers).not.toHaveProperty('cookie');
    expect(event.headers).not.toHaveProperty('X-Custom');
    expect(event.pathParameters).toBeUndefined();
    expect(event.requestContext.requestId).toMatch(/\S{8,}/);
    expect(Math.abs(event.requestContext.timeEpoch - Date.now())).toBeLessThan(5000);
    expect(event.requestContext.time).toMatch(/^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
  });

  it('fills pathParameters from the matched route, decoded, and sends no body for a request without one', async () => {
    events.length = 0;
    respond = async () => ({ statusCode: 302, headers: { Location: 'https://example.com/' } });

    const answer = await raw('GET', '/redirects/time%5Fchosen?scheduling_request_id=srq_1', {});

    expect(answer.status).toBe(302);
    expect(answer.headers.location).toBe('https://example.com/');
    const event = events[0] as APIGatewayProxyEventV2;
    expect(event.routeKey).toBe('GET /redirects/{step}');
    expect(event.rawPath).toBe('/redirects/time%5Fchosen');
    expect(event.pathParameters).toEqual({ step: 'time_chosen' });
    expect(event.body).toBeUndefined();
    expect(event.isBase64Encoded).toBe(false);
  });

  it('passes the IAM-route caller through as an authorizer once the local credential is presented', async () => {
    events.length = 0;
    respond = async () => ({ statusCode: 200, body: '{}' });

    const denied = await raw('POST', '/tokens/embed', { authorization: 'Bearer wrong' });
    const allowed = await raw('POST', '/tokens/embed', { authorization: `Bearer ${TOKEN}` });

    expect(denied.status).toBe(403);
    expect(JSON.parse(denied.body.toString())).toEqual({ message: 'Forbidden' });
    expect(allowed.status).toBe(200);
    expect(events).toHaveLength(1); // the denied request never reached the function
    expect(events[0]?.requestContext).toMatchObject({ authorizer: { iam: { accountId: '000000000000' } } });
  });

  it('answers 403 to a Host that is not this machine (DNS rebinding), before any function or local route', async () => {
    // A web page whose name an attacker re-points at 127.0.0.1 reaches the gateway from the developer's browser
    // as same-origin: only its Host header tells. It would read /_local/events and call the bearer routes with
    // the documented local token.
    events.length = 0;
    respond = async () => ({ statusCode: 200, body: '{}' });
    const port = gateway.port;

    for (const host of [
      `evil.example:${port}`,
      'evil.example',
      `127.0.0.1.evil.example:${port}`,
      `[::2]:${port}`,
    ]) {
      const answer = await raw('POST', '/tokens/embed', { host, authorization: `Bearer ${TOKEN}` });
      expect(answer.status, host).toBe(403);
      expect(JSON.parse(answer.body.toString()), host).toEqual({ message: 'Forbidden' });
    }
    expect(events).toHaveLength(0);

    for (const host of [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      `LOCALHOST:${port}`,
      `[::1]:${port}`,
      'localhost.',
    ]) {
      const answer = await raw('GET', '/redirects/time_chosen', { host });
      expect(answer.status, host).toBe(200);
    }
    expect(events).toHaveLength(5);

    const served: string[] = [];
    const tunnelled = await startGateway({
      port: 0,
      apiToken: TOKEN,
      logger: silentLogger,
      allowedHosts: ['abc.tunnel.example'],
      handlers: RECORDING,
      localRoutes: {
        'GET /_local/events': (_req, res) => {
          served.push('events');
          res.end();
          return 200;
        },
      },
    });
    try {
      const get = (host: string, path: string) =>
        new Promise<number>((resolve, reject) => {
          const req = httpRequest(
            { host: '127.0.0.1', port: tunnelled.port, path, headers: { host } },
            (res) => {
              res.resume();
              resolve(res.statusCode ?? 0);
            },
          );
          req.on('error', reject);
          req.end();
        });
      expect(await get('evil.example', '/_local/events')).toBe(403);
      expect(served).toHaveLength(0);
      expect(await get('abc.tunnel.example', '/_local/events')).toBe(200);
      expect(await get(`localhost:${tunnelled.port}`, '/_local/events')).toBe(200);
      expect(served).toHaveLength(2);
    } finally {
      await tunnelled.stop();
    }
  });

  it('writes the structured result back: base64 bodies, cookies as set-cookie, headers', async () => {
    respond = async () => ({
      statusCode: 201,
      headers: { 'Content-Type': 'image/png', 'X-Answer': 42 },
      cookies: ['a=1; Path=/', 'b=2; HttpOnly'],
      body: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff]).toString('base64'),
      isBase64Encoded: true,
    });

    const answer = await raw('GET', '/healthz', {});

    expect(answer.status).toBe(201);
    expect([...answer.body]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff]);
    expect(answer.headers['content-type']).toBe('image/png');
    expect(answer.headers['x-answer']).toBe('42');
    expect(answer.headers['set-cookie']).toEqual(['a=1; Path=/', 'b=2; HttpOnly']);
    expect(answer.headers['apigw-requestid']).toBeTruthy();
  });

  it('infers 200 JSON from a result without statusCode, as format 2.0 does', async () => {
    respond = async () => ({ hello: 'world' }) as unknown as APIGatewayProxyResultV2;

    const answer = await raw('GET', '/healthz', {});

    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('application/json');
    expect(JSON.parse(answer.body.toString())).toEqual({ hello: 'world' });
  });

  it('answers 500 {"message":"Internal Server Error"} when the function throws, without its message', async () => {
    respond = async () => {
      throw new Error('secret internals');
    };

    const answer = await raw('GET', '/healthz', {});

    expect(answer.status).toBe(500);
    expect(answer.body.toString()).toBe('{"message":"Internal Server Error"}');
  });

  it('answers 413 for a chunked body past 10 MB without buffering it, never calling the function', async () => {
    events.length = 0;
    const status = await new Promise<number | string>((resolve) => {
      const req = httpRequest(
        { host: '127.0.0.1', port: gateway.port, method: 'POST', path: '/cronofy/notifications' },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      // The gateway closes the connection after answering; the client may notice that first.
      req.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
      const chunk = Buffer.alloc(1024 * 1024, 0x20);
      let sent = 0;
      const pump = () => {
        while (sent < 12) {
          sent++;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
    });

    expect([413, 'EPIPE', 'ECONNRESET']).toContain(status);
    expect(events).toHaveLength(0);
  });
});
