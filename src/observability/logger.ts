/** JSON logs (pino) with a `component` on every line; children add the sandbox id. */
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * The root logger of a program. Children name their part with `component` (pino replaces the key, but
 * a child's `component` is then written after the base one: give children their own name instead of
 * nesting, e.g. `logger.child({ component: 'tunnel/proxy' })`).
 */
export function createLogger(level: LevelWithSilent = 'info', destination?: NodeJS.WritableStream, program = 'cloud-api-adaptor'): Logger {
  return pino(
    {
      level,
      base: { program },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
