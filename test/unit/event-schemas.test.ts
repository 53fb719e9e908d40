import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import * as consumer from '#shared/events/consumer-types.ts';
import { SCHEMAS_DIR, schemaFiles } from '#shared/events/generate-schemas.ts';
import { DETAIL_TYPES, detailSchemaOf, EVENT_SOURCE, eventJsonSchema } from '#shared/events/schemas.ts';

/** The published JSON Schemas and the consumers' self-contained module stay equal to the types the code uses. */
describe('event JSON Schemas in the repository', () => {
  it('are current: `npm run schemas` rewrites them', () => {
    const expected = schemaFiles();
    expect(existsSync(SCHEMAS_DIR)).toBe(true);
    expect(readdirSync(SCHEMAS_DIR).sort()).toEqual([...expected.keys()].sort());
    for (const [name, content] of expected) {
      expect(readFileSync(join(SCHEMAS_DIR, name), 'utf8'), `${name} is stale: npm run schemas`).toBe(
        content,
      );
    }
  });

  it('are draft 4, one per detail-type, open to fields added later', () => {
    for (const detailType of DETAIL_TYPES) {
      const schema = eventJsonSchema(detailType);
      expect(schema.$schema).toBe('http://json-schema.org/draft-04/schema#');
      expect(schema.title).toBe(detailType);
      expect(JSON.stringify(schema)).not.toContain('"additionalProperties":false');
      expect(JSON.stringify(schema)).toContain(`"enum":["${detailType}"]`);
    }
  });
});

describe('shared/events/consumer-types.ts (for other repositories)', () => {
  const toJson = (schema: z.core.$ZodType) => z.toJSONSchema(schema, { target: 'draft-4', io: 'input' });

  it('imports nothing but zod', () => {
    const text = readFileSync(new URL('../../shared/events/consumer-types.ts', import.meta.url), 'utf8');
    const specifiers = [...text.matchAll(/\bfrom\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]/g)].map(
      (match) => match[1] ?? match[2],
    );
    expect(specifiers).toEqual(['zod/mini']);
  });

  it('has the same source, detail-types and detail schema for every detail-type as the producing code', () => {
    expect(consumer.EVENT_SOURCE).toBe(EVENT_SOURCE);
    expect([...consumer.DETAIL_TYPES]).toEqual([...DETAIL_TYPES]);
    for (const detailType of DETAIL_TYPES) {
      expect(toJson(consumer.detailSchemaOf(detailType)), detailType).toEqual(
        toJson(detailSchemaOf(detailType)),
      );
    }
  });

  it('parseCronofyEvent accepts an event of ours and nothing else', () => {
    const event = {
      version: '0',
      id: 'x',
      'detail-type': 'scheduling_request.declined',
      source: EVENT_SOURCE,
      account: '1',
      time: '2026-01-01T00:00:00.000Z',
      region: 'eu-west-1',
      resources: [],
      detail: {
        event_id: 'e',
        occurred_at: '2026-01-01T00:00:00.000Z',
        record: { entity: 'scheduling_request', scheduling_request_id: 'sr', status: 'declined', later: 1 },
        changed: ['status'],
      },
    };
    expect(consumer.parseCronofyEvent(event)).toBe(event);
    expect(consumer.parseCronofyEvent({ ...event, source: 'aws.s3' })).toBeUndefined();
    expect(
      consumer.parseCronofyEvent({ ...event, 'detail-type': 'scheduling_request.later' }),
    ).toBeUndefined();
    expect(consumer.parseCronofyEvent({ ...event, detail: { ...event.detail, record: {} } })).toBeUndefined();
    expect(consumer.parseCronofyEvent(null)).toBeUndefined();
  });
});
