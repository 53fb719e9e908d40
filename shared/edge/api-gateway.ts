import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { HttpResult } from './http.ts';

/** API Gateway HTTP API (payload 2.0) ⇄ plain values. */

/** The exact bytes the client sent: API Gateway base64-encodes bodies it does not treat as text. */
export function bodyBytes(event: Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded'>): Uint8Array {
  if (event.body === undefined || event.body === null) return new Uint8Array(0);
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8');
}

export function toApiResponse(result: HttpResult): APIGatewayProxyStructuredResultV2 {
  return { statusCode: result.statusCode, headers: result.headers, body: result.body };
}
