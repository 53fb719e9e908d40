import { describe } from 'vitest';
import { type Case, checkBadInputRun, OFF_ROUTE, ROUTE, sendBadInput } from './bad-input.ts';

/**
 * Signed notifications sent with the wrong method or to the wrong path, which API Gateway answers 404
 * without calling the function; a query string on the route, which it ignores; and broken HTTP, which gets
 * a 400 or a closed connection and must not bring the gateway down.
 */

const run = sendBadInput((kit) => {
  const cases: Case[] = [];
  const signed = (b: Buffer) => kit.cronofyHeaders(kit.sign(b));
  for (const method of ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
    const b = kit.realBody();
    cases.push({ name: `${method} on the route`, method, body: b, headers: signed(b), allowed: OFF_ROUTE });
  }
  for (const path of [
    '/cronofy/notification',
    '/cronofy/notifications/',
    '/CRONOFY/NOTIFICATIONS',
    '//cronofy/notifications',
    '/cronofy/notifications/x/y',
    '/cronofy/%6eotifications',
    '/',
    '/cronofy',
    '/../cronofy/notifications',
  ]) {
    const b = kit.realBody();
    cases.push({ name: `POST ${path}`, path, body: b, headers: signed(b), allowed: OFF_ROUTE });
  }
  // A tenant URL of a tenant nobody registered: the very answer of a bad signature, though the application
  // signed it (tenants cannot be enumerated), and nothing kept.
  const unknownTenant = kit.realBody();
  cases.push({
    name: 'POST /cronofy/notifications/x (no such tenant)',
    path: '/cronofy/notifications/x',
    body: unknownTenant,
    headers: signed(unknownTenant),
    allowed: [401],
  });
  const b = kit.realBody();
  cases.push({
    name: 'a query string on the route, signed',
    path: `${ROUTE}?utm_source=x`,
    body: b,
    headers: signed(b),
    signed: true,
    allowed: [202],
  });

  // Broken HTTP: the server answers 400 or closes; it must not fall over.
  const broken = [
    'GARBAGE\r\n\r\n',
    'POST /cronofy/notifications HTTP/1.1\r\nHost: 127.0.0.1\r\nNo-Colon-Here\r\n\r\n',
    'POST /cronofy/notifications HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{"short":',
    'POST /cronofy/notifications HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
    'POST /cronofy/notifications HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n',
    'POST /cronofy/notifications HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n',
    `POST /cronofy/notifications HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: ${'a'.repeat(20_000)}\r\n\r\n`,
    '\x00\x01\x02\x03\r\n\r\n',
  ];
  for (const [i, text] of broken.entries()) {
    cases.push({ name: `broken HTTP ${i}`, raw: Buffer.from(text, 'latin1'), allowed: [400, 401, 413, 431] });
  }
  return cases;
});

describe('wrong routes and broken HTTP against the local stack', { timeout: 180_000 }, () => {
  checkBadInputRun(
    run,
    {
      answers: 'answers 404 off the route, 202 with a query string on it, and 400 or a close to broken HTTP',
      unsigned: 'never answers 202 off the route or to broken HTTP',
      kept: 'keeps the notification signed on the route and nothing else, with no message in the DLQ',
    },
    'wrong routes and broken HTTP',
  );
});
