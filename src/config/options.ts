/**
 * Table-driven options: each has a flag, the upstream environment name(s) and a zod schema that turns
 * the raw string into a typed value. Precedence: flag, then environment, then default (reference §3.2).
 */
import { messageOf } from '../util/errors.js';
import { isIP } from 'node:net';
import { z, type ZodType } from 'zod';
import { ConfigError } from './errors.js';
import { formatDuration, parseGoDuration } from './duration.js';

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
    .pipe(z.number().int().min(min, `expected an integer from ${min} to ${max}`).max(max, `expected an integer from ${min} to ${max}`))
    .describe(`an integer from ${min} to ${max}`);

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

export interface DurationBounds {
  /** Shortest accepted duration, ms. */
  min: number;
  /**
   * Longest accepted duration, ms. A configured duration becomes a wait: bound it by what makes sense
   * for the key (and far below Node's 2^31 ms timer limit), so a typo such as `2000h` stops the start.
   */
  max: number;
  /** When set, 0 is accepted too and means this (e.g. "off"). */
  zero?: string;
}

/** The accepted range in words, for messages and docs/configuration.md. */
export function durationRange(b: DurationBounds): string {
  return `${b.zero !== undefined ? `0 (${b.zero}) or ` : ''}from ${formatDuration(b.min)} to ${formatDuration(b.max)}`;
}

/** A Go duration (`90s`, `5m`, `1h30m`) in ms, refused outside `bounds`. */
export const duration = (bounds: DurationBounds): ZodType<number, string> => {
  const range = durationRange(bounds);
  return z
    .string()
    .transform((v, ctx) => {
      let ms: number;
      try {
        ms = parseGoDuration(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `${messageOf(err)}; expected a duration ${range}` });
        return z.NEVER;
      }
      if ((ms === 0 && bounds.zero !== undefined) || (ms >= bounds.min && ms <= bounds.max)) return ms;
      ctx.addIssue({ code: 'custom', message: `out of range: expected a duration ${range}` });
      return z.NEVER;
    })
    .describe(`a duration ${range}`);
};

/** `addr/prefix`, IPv4 (prefix ≤ 32) or IPv6 (prefix ≤ 128). */
export function isCidr(text: string): boolean {
  const parts = text.split('/');
  if (parts.length !== 2 || !/^\d{1,3}$/.test(parts[1]!)) return false;
  const family = isIP(parts[0]!);
  const prefix = Number(parts[1]);
  return (family === 4 && prefix <= 32) || (family === 6 && prefix <= 128);
}

/** A comma list of CIDRs (`10.244.0.0/16,fd00::/64`); empty = none. The first bad entry is named. */
export const cidrList = (): ZodType<string[], string> =>
  z
    .string()
    .transform((v, ctx) => {
      const items = v.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
      const bad = items.find((c) => !isCidr(c));
      if (bad !== undefined) {
        ctx.addIssue({ code: 'custom', message: `"${bad}" is not a CIDR: expected address/prefix, e.g. 10.244.0.0/16 or fd00::/64` });
        return z.NEVER;
      }
      return items;
    })
    .describe('comma-separated CIDRs');

/** A host, node or object name: letters, digits, `.`, `-`, `_`, starting and ending alphanumeric, at most 253. */
export const name = (): ZodType<string, string> =>
  z
    .string()
    .trim()
    .refine((v) => v !== '', 'must not be empty')
    .refine((v) => v === '' || /^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$/.test(v), "expected letters, digits, '.', '-' or '_', starting and ending with a letter or digit, at most 253 characters")
    .describe('a non-empty name');

/** A Linux network interface name, or empty: 1–15 characters without '/', ':' or whitespace. */
export const interfaceName = (): ZodType<string, string> =>
  z
    .string()
    .trim()
    .refine((v) => v === '' || (/^[^\s/:]{1,15}$/.test(v) && v !== '.' && v !== '..'), "expected an interface name: 1 to 15 characters, no '/', ':' or spaces");

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

/**
 * One command-line value checked with an option schema (flags outside the option tables, such as the
 * forwarder's): throws a ConfigError naming the flag and what it accepts.
 */
export function parseFlag<T>(flag: string, raw: string, schema: ZodType<T, string>): T {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  throw new ConfigError(`invalid configuration: --${flag} = ${JSON.stringify(raw)}: ${r.error.issues.map((i) => i.message).join('; ')}`);
}
