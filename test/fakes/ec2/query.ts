/**
 * Reading EC2 Query parameters. The SDK flattens lists as `Name.1`, `Name.2`, … and nests structures
 * with dots (`TagSpecification.1.Tag.2.Key`); a `QueryParams` is a view of the whole request or of
 * one such nested member, and names parameters in full in its error messages.
 */
import { invalidValue, missingParameter } from './errors.js';

export class QueryParams {
  constructor(
    readonly raw: URLSearchParams,
    /** How this view's keys are spelled in the whole request, e.g. `NetworkInterface.1.`. */
    readonly prefix = '',
  ) {}

  /** The full parameter name, for error messages. */
  label(name: string): string {
    return `${this.prefix}${name}`;
  }

  has(name: string): boolean {
    return this.raw.has(name);
  }

  str(name: string): string | undefined {
    return this.raw.get(name) ?? undefined;
  }

  required(name: string): string {
    const v = this.raw.get(name);
    if (v === null || v === '') throw missingParameter(this.label(name));
    return v;
  }

  int(name: string, range: { min?: number; max?: number } = {}): number | undefined {
    const v = this.raw.get(name);
    if (v === null) return undefined;
    if (!/^-?\d+$/.test(v)) throw invalidValue(this.label(name), v);
    const n = Number(v);
    if ((range.min !== undefined && n < range.min) || (range.max !== undefined && n > range.max)) {
      const bounds = `${range.min ?? '-inf'} and ${range.max ?? 'inf'}`;
      throw invalidValue(this.label(name), v, `Value (${v}) for parameter ${this.label(name)} is invalid. Expected a value between ${bounds}.`);
    }
    return n;
  }

  bool(name: string): boolean | undefined {
    const v = this.raw.get(name);
    if (v === null) return undefined;
    if (/^true$/i.test(v)) return true;
    if (/^false$/i.test(v)) return false;
    throw invalidValue(this.label(name), v);
  }

  oneOf<T extends string>(name: string, allowed: readonly T[]): T | undefined {
    const v = this.raw.get(name);
    if (v === null) return undefined;
    if (!(allowed as readonly string[]).includes(v)) throw invalidValue(this.label(name), v);
    return v as T;
  }

  /** The values of `name.1`, `name.2`, … in index order. */
  list(name: string): string[] {
    const found: [number, string][] = [];
    const head = `${name}.`;
    for (const [k, v] of this.raw) {
      if (!k.startsWith(head)) continue;
      const idx = k.slice(head.length);
      if (/^\d+$/.test(idx)) found.push([Number(idx), v]);
    }
    return found.sort((a, b) => a[0] - b[0]).map(([, v]) => v);
  }

  /** The structures `name.N.*` in index order, each as its own view. */
  groups(name: string): QueryParams[] {
    const byIndex = new Map<number, URLSearchParams>();
    const head = `${name}.`;
    for (const [k, v] of this.raw) {
      if (!k.startsWith(head)) continue;
      const m = /^(\d+)\.(.+)$/.exec(k.slice(head.length));
      if (!m) continue;
      const idx = Number(m[1]);
      let sub = byIndex.get(idx);
      if (!sub) byIndex.set(idx, (sub = new URLSearchParams()));
      sub.append(m[2] ?? '', v);
    }
    return [...byIndex.entries()].sort((a, b) => a[0] - b[0]).map(([idx, sub]) => new QueryParams(sub, `${this.prefix}${name}.${idx}.`));
  }

  /** The structure `name.*` (not indexed), or undefined when no key of it is present. */
  struct(name: string): QueryParams | undefined {
    const head = `${name}.`;
    const sub = new URLSearchParams();
    for (const [k, v] of this.raw) if (k.startsWith(head)) sub.append(k.slice(head.length), v);
    return sub.size > 0 ? new QueryParams(sub, `${this.prefix}${head}`) : undefined;
  }
}
