/** A debug-level pino logger whose lines the test can read back. */
import { pino, type Logger } from 'pino';

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

/** A debug-level logger whose lines land in `logs`, parsed. */
export function captureLogger(): { logger: Logger; logs: LogLine[] } {
  const logs: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  return { logger, logs };
}
