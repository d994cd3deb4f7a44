import { daemonOptions } from '../config/daemon-config.js';

/**
 * Upstream's manifests pass Go-style flags: `-pods-dir x`, `-disable-tls`, `-disable-tls=false`.
 * Rewrite them to the `--long` form; a boolean given `=false`/`=0` is dropped (false is its default).
 */
export function normalizeGoFlags(argv: string[]): string[] {
  const booleans = new Set(Object.values(daemonOptions).filter((s) => s.boolean).map((s) => s.flag));
  const out: string[] = [];
  for (const arg of argv) {
    const m = /^--?([a-z][a-z0-9-]+)(?:=(.*))?$/.exec(arg);
    if (!m || !Object.values(daemonOptions).some((s) => s.flag === m[1])) {
      out.push(arg);
      continue;
    }
    const [, name, value] = m;
    if (booleans.has(name!) && value !== undefined) {
      if (/^(1|true)$/i.test(value)) out.push(`--${name}`);
      else if (!/^(0|false)$/i.test(value)) out.push(`--${name}`, value); // commander reports the stray value
    } else {
      out.push(value === undefined ? `--${name}` : `--${name}=${value}`);
    }
  }
  return out;
}
