/** JSON logs (pino) with a `component` on every line; children add the sandbox id. */
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * Bounds on what one log line may carry. Fields come from clients too (ids, names, error texts
 * quoting a request); a 1 MiB string must not become a 1 MiB line.
 */
export const LOG_LIMITS = {
  /** Longer strings (fields, the message, child bindings) are cut here, with a marker. */
  stringChars: 4096,
  /** Longer arrays keep their first elements and a marker. */
  arrayItems: 100,
  /** Objects with more keys keep the first ones and a marker key. */
  objectKeys: 100,
  /** Deeper objects are replaced by a marker. */
  depth: 8,
} as const;

/** A string cut to `LOG_LIMITS.stringChars`, saying how long it was. */
function truncateString(s: string): string {
  if (s.length <= LOG_LIMITS.stringChars) return s;
  return `${s.slice(0, LOG_LIMITS.stringChars)}…[truncated: ${s.length} chars]`;
}

/**
 * What a line shows of an error, under any key: what pino's `err` serializer writes (`type` — the
 * class —, `message`, `stack`, the error's own fields such as `code`, `name` or `step`) and its `cause`
 * (and an AggregateError's `errors`) as records of the same shape, so a coded error's code and the
 * failure behind it reach the log. An error met again in its own causes is written as a marker.
 */
function errorRecord(err: Error, seen: Set<Error>): Record<string, unknown> {
  seen.add(err);
  const nested = (v: unknown): unknown => (v instanceof Error ? (seen.has(v) ? '[circular]' : errorRecord(v, seen)) : v);
  const record: Record<string, unknown> = {
    type: typeof err.constructor === 'function' ? err.constructor.name : err.name,
    message: err.message,
    stack: err.stack,
  };
  for (const [key, v] of Object.entries(err)) if (!(key in record)) record[key] = nested(v);
  if (err.cause !== undefined) record.cause = nested(err.cause);
  if (err instanceof AggregateError && Array.isArray(err.errors)) record.errors = err.errors.map(nested);
  return record;
}

/**
 * `value` with every string, array and object within the limits, and every error as its record
 * (`errorRecord`). Returns the value itself when nothing is over and it holds no error (the usual
 * case: no copy), a bounded copy otherwise.
 */
export function boundLogValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return truncateString(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= LOG_LIMITS.depth) return '[truncated: too deep]';
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    const n = Math.min(value.length, LOG_LIMITS.arrayItems);
    for (let i = 0; i < n; i++) {
      const v: unknown = value[i];
      const b = boundLogValue(v, depth + 1);
      if (b !== v) (copy ??= value.slice(0, n))[i] = b;
    }
    if (value.length > n) {
      copy ??= value.slice(0, n);
      copy.push(`[truncated: ${value.length} items]`);
    }
    return copy ?? value;
  }
  if (value instanceof Error) return boundLogValue(errorRecord(value, new Set()), depth);
  // Buffers, dates and the like serialize themselves; only plain objects are walked.
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  if (keys.length > LOG_LIMITS.objectKeys) {
    // Only the first keys, each bounded, and a note of how many there were.
    const out: Record<string, unknown> = {};
    for (const k of keys.slice(0, LOG_LIMITS.objectKeys)) out[k] = boundLogValue(record[k], depth + 1);
    out['[truncated]'] = `${keys.length} keys`;
    return out;
  }
  let copy: Record<string, unknown> | undefined;
  for (const key of keys) {
    const v = record[key];
    const b = boundLogValue(v, depth + 1);
    if (b !== v) (copy ??= { ...record })[key] = b;
  }
  return copy ?? value;
}

/**
 * The root logger of a program. Children name their part with `component` (pino replaces the key, but
 * a child's `component` is then written after the base one: give children their own name instead of
 * nesting, e.g. `logger.child({ component: 'tunnel/proxy' })`). Every line is bounded (LOG_LIMITS).
 */
export function createLogger(level: LevelWithSilent = 'info', destination?: NodeJS.WritableStream, program = 'cloud-api-adaptor'): Logger {
  const logger = pino(
    {
      level,
      base: { program },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Errors, under `err` or any other key, are made records by `boundLogValue` in the formatters
      // (pino runs them first): pino's own `err` serializer would take a record for an error again.
      serializers: { err: (value: unknown) => value },
      formatters: {
        level: (label) => ({ level: label }),
        bindings: (bindings) => boundLogValue(bindings) as Record<string, unknown>,
        log: (object) => boundLogValue(object) as Record<string, unknown>,
      },
      hooks: {
        // The message and its printf arguments: pino formats them outside the formatters.
        logMethod(args, method) {
          for (let i = 0; i < args.length; i++) {
            const a: unknown = args[i];
            if (typeof a === 'string' && a.length > LOG_LIMITS.stringChars) (args as unknown[])[i] = truncateString(a);
          }
          method.apply(this, args);
        },
      },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
  // pino applies `formatters.bindings` to the root's base only, not to a child's bindings: bound
  // those here. Children are made with Object.create(parent), so they all inherit this method.
  const child = logger.child;
  logger.child = function boundedChild(this: Logger, bindings, options) {
    return child.call(this, boundLogValue(bindings) as typeof bindings, options);
  } as typeof logger.child;
  return logger;
}
