import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { notificationItem } from '#shared/aws/dynamo-store.ts';
import { BODY_ATTRIBUTE, compressBody, contractBody, decompressBody } from '#shared/contract/body-codec.ts';
import { fixture } from '../support/cronofy-payloads.ts';
import { itemBytes } from './item-size.ts';
import { notification } from './workload.ts';

/**
 * `npx tsx test/bench/compression.ts`: how to store a notification body. Every candidate on the same
 * Cronofy-shaped bodies: the notification record's write units (the real item, `notificationItem`, with the
 * body attribute swapped), CPU per compression (what the worker pays) and per decompression (what a reader
 * pays), measured with `process.cpuUsage`, which a loaded machine slows but does not inflate with waiting.
 * The choice: write units saved per CPU millisecond spent.
 */

const WORDS =
  'available afternoons prefer video previous role senior platform engineer years relocating spring needs visa sponsorship details portfolio references request mornings tuesday thursday remote hybrid office london paris berlin salary notice period weeks months team lead mentor hiring manager question answer'.split(
    ' ',
  );
let seed = 7;
const random = () => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return seed / 2 ** 31;
};
/** Free text that does not repeat itself, unlike the throughput workload's padding. */
const prose = (bytes: number) => {
  let text = '';
  while (text.length < bytes) text += `${WORDS[Math.floor(random() * WORDS.length)]} `;
  return text.slice(0, bytes);
};

/** Cronofy's example with a panel of distinct people (random ids and addresses) and a free-text answer. */
function distinctPanel(collaborators: number, answerBytes: number): Buffer {
  const body = JSON.parse(fixture('seed-time-chosen.json'));
  const request = body.scheduling_request;
  request.collaborators = Array.from({ length: collaborators }, () => ({
    sub: `acc_${randomBytes(12).toString('hex')}`,
  }));
  request.collaborator_groups[0].members = request.collaborators.slice(0, Math.ceil(collaborators / 2));
  request.event.attendees.push(
    ...request.collaborators.slice(0, 4).map((c: { sub: string }, i: number) => ({
      email: `panel.member.${randomBytes(3).toString('hex')}@hiring.example.com`,
      display_name: `Panel Member ${i + 1}`,
      sub: c.sub,
      status: 'needs_action',
    })),
  );
  request.event.metadata.scheduler['captured_data.notes'] = prose(answerBytes);
  return Buffer.from(JSON.stringify(body));
}

export const CORPUS: Record<string, Buffer[]> = {
  'throughput workload, 3–5 KB panels': [3072, 4096, 5120].flatMap((size) =>
    Array.from({ length: 10 }, () => Buffer.from(notification('zip', size).body)),
  ),
  'throughput workload, 4 KB captured data': Array.from({ length: 10 }, () =>
    Buffer.from(notification('zip', 4096, 'captured-data').body),
  ),
  "Cronofy's examples (test/fixtures)": [
    'seed-time-chosen.json',
    'seed-participant-status-changed.txt',
    'seed-conferencing-assigned.json',
    'seed-conferencing-failing.json',
  ].map((name) => Buffer.from(fixture(name))),
  'distinct people and prose, 3–5 KB': Array.from({ length: 10 }, (_, i) =>
    distinctPanel(6 + i, 600 + 150 * i),
  ),
};

type Codec = { compress: (raw: Buffer) => Uint8Array; decompress: (stored: Uint8Array) => Buffer };
const brotli = (quality: number): Codec => ({
  compress: (raw) =>
    zlib.brotliCompressSync(raw, {
      params: {
        [zlib.constants.BROTLI_PARAM_QUALITY]: quality,
        [zlib.constants.BROTLI_PARAM_MODE]: zlib.constants.BROTLI_MODE_TEXT,
        [zlib.constants.BROTLI_PARAM_SIZE_HINT]: raw.byteLength,
      },
    }),
  decompress: (stored) => zlib.brotliDecompressSync(stored),
});

/** Node's brotli and gzip take no custom dictionary (gzip's format has none); DEFLATE's zlib stream does. */
export const CODECS: Record<string, Codec | undefined> = {
  'text (no compression)': undefined,
  'gzip 6': { compress: (raw) => zlib.gzipSync(raw), decompress: (stored) => zlib.gunzipSync(stored) },
  'deflate 6': {
    compress: (raw) => zlib.deflateRawSync(raw),
    decompress: (stored) => zlib.inflateRawSync(stored),
  },
  'deflate 9': {
    compress: (raw) => zlib.deflateRawSync(raw, { level: 9 }),
    decompress: (stored) => zlib.inflateRawSync(stored),
  },
  'brotli 4': brotli(4),
  'brotli 6': brotli(6),
  'brotli 11': brotli(11),
  'deflate 6 + dictionary (chosen)': { compress: compressBody, decompress: decompressBody },
};

/** The notification record's item with the body stored by `codec`. */
function item(raw: Buffer, codec: Codec | undefined): Record<string, AttributeValue> {
  const { body, body_encoding } = contractBody(raw);
  const stored = notificationItem({
    entity: 'notification',
    notification_id: `sha256:${'0'.repeat(64)}`,
    type: 'scheduling_request_time_chosen',
    status: 'applied',
    received_at: '2026-11-23T10:00:00.123Z',
    triggered_at: '2026-11-23T10:00:00.000Z',
    scheduling_request_id: 'srq_d6f3f8165239d662963fc09b',
    expires_at: 1_795_000_000,
    body,
    body_encoding,
    processed_at: '2026-11-23T10:00:01.456Z',
  });
  const { [BODY_ATTRIBUTE]: _compressed, ...fields } = stored;
  if (codec === undefined) return { ...fields, body: { S: body }, body_encoding: { S: body_encoding } };
  return { ...fields, [BODY_ATTRIBUTE]: { B: codec.compress(raw) } };
}

/**
 * The notification record of each body as stored now and as it was stored before (text), in write units by
 * DynamoDB's size rules: the before/after of compression on the same bodies.
 */
export function recordUnits(bodies: readonly Buffer[]): {
  compressed: number;
  text: number;
  bytesSaved: number;
} {
  const chosen = CODECS['deflate 6 + dictionary (chosen)'];
  const sizes = bodies.map((raw) => ({
    now: itemBytes(item(raw, chosen)),
    text: itemBytes(item(raw, undefined)),
  }));
  const mean = (values: number[]) => values.reduce((sum, v) => sum + v, 0) / values.length;
  return {
    compressed: mean(sizes.map((s) => Math.ceil(s.now / 1024))),
    text: mean(sizes.map((s) => Math.ceil(s.text / 1024))),
    bytesSaved: mean(sizes.map((s) => s.text - s.now)),
  };
}

/** CPU microseconds per call, after a warm-up. */
function cpuUs(run: () => void, calls: number): number {
  for (let i = 0; i < Math.min(50, calls); i++) run();
  const start = process.cpuUsage();
  for (let i = 0; i < calls; i++) run();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / calls;
}

export interface CodecFigures {
  codec: string;
  bytes: Record<string, number>;
  writeUnits: Record<string, number>;
  compressUs: number;
  decompressUs: number;
}

export function measureCompression(repetitions = 40): CodecFigures[] {
  const all = Object.values(CORPUS).flat();
  return Object.entries(CODECS).map(([name, codec]) => {
    const bytes: Record<string, number> = {};
    const writeUnits: Record<string, number> = {};
    for (const [set, bodies] of Object.entries(CORPUS)) {
      const stored = bodies.map((raw) => (codec ? codec.compress(raw) : raw));
      bodies.forEach((raw, i) => {
        if (codec && !codec.decompress(stored[i] as Uint8Array).equals(raw))
          throw new Error(`${name} lost bytes`);
      });
      bytes[set] = stored.reduce((sum, s) => sum + s.byteLength, 0) / bodies.length;
      writeUnits[set] =
        bodies.reduce((sum, raw) => sum + Math.ceil(itemBytes(item(raw, codec)) / 1024), 0) / bodies.length;
    }
    if (!codec) return { codec: name, bytes, writeUnits, compressUs: 0, decompressUs: 0 };
    const compressed = all.map((raw) => codec.compress(raw));
    const compressUs =
      cpuUs(() => {
        for (const raw of all) codec.compress(raw);
      }, repetitions) / all.length;
    const decompressUs =
      cpuUs(() => {
        for (const stored of compressed) codec.decompress(stored);
      }, repetitions) / all.length;
    return { codec: name, bytes, writeUnits, compressUs, decompressUs };
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const figures = measureCompression();
  const sets = Object.keys(CORPUS);
  const baseline = figures[0] as CodecFigures;
  const mean = (f: CodecFigures) =>
    sets.reduce((sum, set) => sum + (f.writeUnits[set] as number), 0) / sets.length;
  console.log(
    `| codec | ${sets.map((s) => `${s}: bytes / write units`).join(' | ')} | compress µs | decompress µs | units saved per CPU ms |`,
  );
  console.log(`|${' --- |'.repeat(sets.length + 4)}`);
  for (const f of figures) {
    const saved = mean(baseline) - mean(f);
    const perMs = f.compressUs > 0 ? (saved / (f.compressUs / 1000)).toFixed(0) : '';
    console.log(
      `| ${f.codec} | ${sets.map((s) => `${(f.bytes[s] as number).toFixed(0)} / ${(f.writeUnits[s] as number).toFixed(2)}`).join(' | ')} | ${f.compressUs.toFixed(1)} | ${f.decompressUs.toFixed(1)} | ${perMs} |`,
    );
  }
}
