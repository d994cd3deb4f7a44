/**
 * Table-driven options: each has a flag, the upstream environment name(s) and a zod schema that turns
 * the raw string into a typed value. Precedence: flag, then environment, then default (reference §3.2).
 */
import { z, type ZodType } from 'zod';
import { ConfigError } from './errors.js';
import { parseGoDuration } from './duration.js';

export interface OptionSpec<T> {
  /** Flag name without dashes, e.g. `pods-dir`. */
  flag: string;
  /** Environment names, the upstream one first; later ones are accepted aliases. */
  env: readonly string[];
  /** Raw default as the environment would carry it. */
  default: string;
  schema: ZodType<T, string>;
  description: string;
  /** Never printed: the redacted config shows `<redacted>` when set. */
  secret?: boolean;
  /** A boolean flag takes no value on the command line. */
  boolean?: boolean;
  /** The daemon refuses to start without a value (the deploy overlays must set it). */
  required?: boolean;
}

export type OptionTable = Record<string, OptionSpec<unknown>>;
export type Resolved<T extends OptionTable> = { [K in keyof T]: T[K] extends OptionSpec<infer V> ? V : never };

export function option<T>(spec: OptionSpec<T>): OptionSpec<T> {
  return spec;
}

// ---- schemas for raw strings --------------------------------------------------------------

export const str = (): ZodType<string, string> => z.string();

export const int = (min: number, max: number): ZodType<number, string> =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, `expected an integer from ${min} to ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(min, `expected an integer from ${min} to ${max}`).max(max, `expected an integer from ${min} to ${max}`));

/** Upstream reads `1`/`true` (any case) as true; we also take `0`/`false`/empty, and refuse anything else. */
export const bool = (): ZodType<boolean, string> =>
  z
    .string()
    .trim()
    .toLowerCase()
    .refine((v) => ['', '0', '1', 'true', 'false'].includes(v), 'expected true or false (or 1 / 0)')
    .transform((v) => v === '1' || v === 'true');

export const oneOf = <const V extends readonly [string, ...string[]]>(values: V): ZodType<V[number], string> =>
  z.string().refine((v): v is V[number] => (values as readonly string[]).includes(v), `expected one of: ${values.map((v) => (v === '' ? '""' : v)).join(', ')}`) as unknown as ZodType<V[number], string>;

export const duration = (): ZodType<number, string> =>
  z.string().transform((v, ctx) => {
    try {
      return parseGoDuration(v);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });

export const list = (): ZodType<string[], string> =>
  z.string().transform((v) =>
    v
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
  );

/** `k=v,k2=v2` → a record (cloud tags); an entry without `=` or with an empty key is refused. */
export const keyValueList = (): ZodType<Record<string, string>, string> =>
  z.string().transform((v, ctx) => {
    const out: Record<string, string> = {};
    for (const part of v.split(',').map((s) => s.trim()).filter(Boolean)) {
      const eq = part.indexOf('=');
      if (eq <= 0) {
        ctx.addIssue({ code: 'custom', message: `expected key=value pairs separated by commas, got "${part}"` });
        return z.NEVER;
      }
      out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
    }
    return out;
  });

/** A decimal number above zero (rates); `what` names it in the error. */
export const positiveNumber = (what: string): ZodType<number, string> =>
  z
    .string()
    .trim()
    .regex(/^\d+(\.\d+)?$/, `expected ${what}`)
    .transform(Number)
    .pipe(z.number().positive(`expected ${what}`));

export const absolutePath = (): ZodType<string, string> =>
  z.string().refine((v) => v.startsWith('/'), 'expected an absolute path');

// ---- resolution ---------------------------------------------------------------------------

export interface RawSources {
  /** Values given on the command line, by flag name. */
  flags: Record<string, string | boolean | undefined>;
  env: NodeJS.ProcessEnv;
}

function rawValue(spec: OptionSpec<unknown>, sources: RawSources): { raw: string; from: string } {
  const flagValue = sources.flags[spec.flag];
  if (flagValue !== undefined) return { raw: String(flagValue), from: `--${spec.flag}` };
  for (const name of spec.env) {
    const v = sources.env[name];
    if (v !== undefined) return { raw: v, from: name };
  }
  return { raw: spec.default, from: 'default' };
}

/** Parses every option; all problems are reported together, each naming its key. */
export function resolveOptions<T extends OptionTable>(table: T, sources: RawSources): Resolved<T> {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, spec] of Object.entries(table)) {
    const { raw, from } = rawValue(spec, sources);
    if (spec.required && raw.trim() === '') {
      problems.push(`${[spec.env[0], `--${spec.flag}`].filter(Boolean).join(' / ')} is required: ${spec.description}`);
      continue;
    }
    const r = spec.schema.safeParse(raw);
    if (r.success) {
      out[key] = r.data;
    } else {
      const names = [spec.env[0], `--${spec.flag}`].filter(Boolean).join(' / ');
      const shown = spec.secret ? '<redacted>' : JSON.stringify(raw);
      problems.push(`${names} = ${shown} (from ${from}): ${r.error.issues.map((i) => i.message).join('; ')}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  return out as Resolved<T>;
}

/** The values for the start-up log line, secrets replaced. */
export function redact<T extends OptionTable>(table: T, values: Resolved<T>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(table)) {
    const v = (values as Record<string, unknown>)[key];
    out[key] = spec.secret && v !== '' && v !== undefined ? '<redacted>' : v;
  }
  return out;
}
