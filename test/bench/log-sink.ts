import { closeSync, openSync, writeSync } from 'node:fs';

/**
 * Where the handlers' log and metric lines go during a measurement: a synchronous write to /dev/null (as
 * stdout is a synchronous pipe in Lambda, the write stays in the measured cost), counting the bytes that
 * CloudWatch Logs would ingest.
 */
export class CountingSink {
  bytes = 0;
  lines = 0;
  private readonly fd = openSync('/dev/null', 'w');

  readonly write = (line: string): void => {
    const text = `${line}\n`;
    this.bytes += Buffer.byteLength(text);
    this.lines++;
    writeSync(this.fd, text);
  };

  reset(): void {
    this.bytes = 0;
    this.lines = 0;
  }

  close(): void {
    closeSync(this.fd);
  }
}
