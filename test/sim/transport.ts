import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/**
 * One HTTP POST as Cronofy makes it, with a hard timeout covering the whole exchange (connect, send,
 * answer). Keep-alive agents sized to the concurrency, so a load run measures the receiver, not TCP set-up.
 */

export interface HttpRequest {
  url: string;
  headers: Record<string, string>;
  body: Buffer;
  timeoutMs: number;
}

export interface HttpResponse {
  status: number;
  body: string;
}

export type Transport = (request: HttpRequest) => Promise<HttpResponse>;

export class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
}

/** Keep what an answer says short: bodies of our own answers are small JSON; never buffer a huge one. */
const MAX_ANSWER_BYTES = 4096;

export function httpTransport(maxSockets: number): Transport & { close(): void } {
  const http = new HttpAgent({ keepAlive: true, maxSockets });
  const https = new HttpsAgent({ keepAlive: true, maxSockets });
  const send: Transport = (request) =>
    new Promise<HttpResponse>((resolve, reject) => {
      const url = new URL(request.url);
      const secure = url.protocol === 'https:';
      const req = (secure ? httpsRequest : httpRequest)(
        url,
        {
          method: 'POST',
          agent: secure ? https : http,
          headers: { ...request.headers, 'content-length': String(request.body.byteLength) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            if (size < MAX_ANSWER_BYTES) chunks.push(chunk);
            size += chunk.byteLength;
          });
          res.on('end', () => {
            clearTimeout(timer);
            resolve({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString('utf8').slice(0, MAX_ANSWER_BYTES),
            });
          });
          res.on('error', (error) => {
            clearTimeout(timer);
            reject(error);
          });
        },
      );
      const timer = setTimeout(() => {
        req.destroy(new TimeoutError(`no answer within ${request.timeoutMs} ms`));
      }, request.timeoutMs);
      req.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      req.end(request.body);
    });
  return Object.assign(send, {
    close() {
      http.destroy();
      https.destroy();
    },
  });
}
