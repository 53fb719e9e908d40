import type { Logger } from '#shared/core/ports.ts';

/**
 * Local mode's console: one readable line per event, fields as key=value. The domain code decides what is
 * logged (identifiers, never payloads); this only formats it for a terminal instead of CloudWatch.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Print = (line: string) => void;

const LEVEL_ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/**
 * A string as it can go on a terminal line: quoted and escaped when it holds whitespace, a control or a format
 * character (ids come from signed bodies and correlation ids from any browser: an escape sequence must not reach
 * the terminal, nor a bidirectional override or a zero-width character reorder or hide part of the line).
 */
export function printable(value: string): string {
  if (!/[\s\p{Cc}\p{Cf}]/u.test(value)) return value;
  // JSON escapes C0 controls; DEL, the C1 controls (0x9b introduces escape sequences too) and the format
  // characters (U+202E, U+2066, U+200B…) are escaped here.
  return JSON.stringify(value).replace(
    /[\p{Cc}\p{Cf}]/gu,
    // Each UTF-16 unit, as JSON writes them: a tag character (U+E0041, text hidden in plain sight) is two.
    (c) =>
      c
        .split('')
        .map((unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`)
        .join(''),
  );
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return printable(value);
  return JSON.stringify(value) ?? String(value);
}

export function formatFields(fields: Record<string, unknown> = {}): string {
  return Object.entries(fields)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${formatValue(value)}`)
    .join(' ');
}

function time(): string {
  return new Date().toISOString().slice(11, 23);
}

/** A line printer with a time stamp and a fixed-width source column. */
export function linePrinter(source: string, print: Print = console.log): Print {
  const column = source.padEnd(8);
  return (line) => print(`${time()} ${column} ${line}`);
}

export function consoleLogger(source: string, options: { minLevel?: LogLevel; print?: Print } = {}): Logger {
  const min = LEVEL_ORDER[options.minLevel ?? 'info'];
  const print = linePrinter(source, options.print);
  const at =
    (level: LogLevel) =>
    (message: string, fields?: Record<string, unknown>): void => {
      if (LEVEL_ORDER[level] < min) return;
      const marker = level === 'info' ? '' : `${level.toUpperCase()} `;
      const rest = formatFields(fields);
      print(`${marker}${message}${rest ? ` ${rest}` : ''}`);
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
