/**
 * Upstream's manifests and systemd units pass Go-style flags: `-pods-dir x`, `-disable-tls`,
 * `-disable-tls=false`. Rewrite the known ones to the `--long` form; a boolean given `=false`/`=0`
 * is dropped (false is its default).
 */
export interface FlagInfo {
  flag: string;
  boolean?: boolean;
}

export function normalizeGoFlags(argv: readonly string[], known: readonly FlagInfo[]): string[] {
  const names = new Map(known.map((k) => [k.flag, k.boolean === true]));
  const out: string[] = [];
  for (const arg of argv) {
    const m = /^--?([a-z][a-z0-9-]+)(?:=(.*))?$/.exec(arg);
    if (!m || !names.has(m[1]!)) {
      out.push(arg);
      continue;
    }
    const [, name, value] = m;
    if (names.get(name!) && value !== undefined) {
      if (/^(1|true)$/i.test(value)) out.push(`--${name}`);
      else if (!/^(0|false)$/i.test(value)) out.push(`--${name}`, value); // commander reports the stray value
    } else {
      out.push(value === undefined ? `--${name}` : `--${name}=${value}`);
    }
  }
  return out;
}
